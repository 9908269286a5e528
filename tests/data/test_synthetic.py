"""The synthetic corpus: deterministic, realistic in shape, flagged as synthetic."""

import numpy as np

from data.synthetic import VOCAB_SIZE, synthetic_corpus


def test_same_seed_gives_the_same_corpus_and_another_seed_differs():
    a, b, c = (
        synthetic_corpus(5, 300, 300),
        synthetic_corpus(5, 300, 300),
        synthetic_corpus(6, 300, 300),
    )
    assert a.spam == b.spam and a.ham == b.ham
    assert a.spam != c.spam


def test_default_corpus_looks_like_mail_and_says_it_is_synthetic():
    corpus = synthetic_corpus(0)
    lengths = np.array([len(e) for e in corpus.spam + corpus.ham])
    words = {w for e in corpus.spam + corpus.ham for w in e}
    assert corpus.synthetic and "SYNTHETIC" in corpus.label
    assert 10 <= np.median(lengths) <= 300  # tens to hundreds of unique words
    assert lengths.max() > 300 and lengths.min() >= 1
    assert 0.9 * VOCAB_SIZE <= len(words) <= VOCAB_SIZE
    assert all(len(set(e)) == len(e) for e in corpus.spam[:200])
    # Spam and ham share most of their vocabulary.
    spam_words = {w for e in corpus.spam for w in e}
    ham_words = {w for e in corpus.ham for w in e}
    assert len(spam_words & ham_words) > 0.7 * len(spam_words | ham_words)
    for word in "my computer password is pizza".split():
        assert word in words
