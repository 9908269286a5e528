"""Spam corpora: loaders, the synthetic corpus, vocabulary, split and partitioners."""
