"""The book's and the stratified split, the vocabulary and encoded e-mail sets."""

import numpy as np
import pytest

from data.corpus import Corpus, CorpusError
from data.email_set import EmailSet
from data.split import book_split, split_corpus, stratified_split
from data.vocabulary import UNKNOWN, UNKNOWN_INDEX, Vocabulary


def corpus_of(n_spam: int, n_ham: int) -> Corpus:
    return Corpus(
        "test",
        False,
        [[f"s{i}", "x"] for i in range(n_spam)],
        [[f"h{i}", "x"] for i in range(n_ham)],
    )


def test_book_split_holds_out_last_1000_of_each_class_and_interleaves_training():
    split = book_split(corpus_of(2500, 2200))
    assert split.test_labels.count(1) == 1000 and split.test_labels.count(0) == 1000
    assert split.test_emails[0] == ["s1500", "x"] and split.test_emails[1] == ["h1200", "x"]
    assert split.train_labels[:6] == [1, 0, 1, 0, 1, 0]
    assert len(split.train_emails) == 1500 + 1200
    assert split.train_labels[-300:] == [1] * 300  # the larger class's rest, not repeated
    assert "book split" in split.note


def test_stratified_split_holds_out_a_random_fifth_of_each_class_reproducibly():
    corpus = corpus_of(200, 1000)
    split = stratified_split(corpus, seed=3)
    assert split.test_labels.count(1) == 40 and split.test_labels.count(0) == 200
    test = {e[0] for e in split.test_emails}
    train = {e[0] for e in split.train_emails}
    assert not test & train and len(test | train) == 1200  # every e-mail once
    assert not test >= {f"s{i}" for i in range(160, 200)}  # not the file's last e-mails
    assert 0.10 < split.test_labels[:120].count(1) / 120 < 0.25  # classes mixed throughout
    assert stratified_split(corpus, seed=3) == split != stratified_split(corpus, seed=4)
    assert "stratified split (seed 3)" in split.note


def test_split_by_name():
    corpus = corpus_of(50, 60)
    assert split_corpus(corpus, "book") == book_split(corpus)
    assert split_corpus(corpus, "stratified", 1) == stratified_split(corpus, 1)
    with pytest.raises(ValueError, match="Unknown split 'random'"):
        split_corpus(corpus, "random")


def test_small_classes_fall_back_to_a_fraction_and_say_so():
    split = book_split(corpus_of(500, 100))
    assert split.test_labels.count(1) == 100 and split.test_labels.count(0) == 20
    assert "fallback split" in split.note and "20%" in split.note


def test_a_class_of_one_email_cannot_be_split():
    with pytest.raises(CorpusError, match="only 1 ham"):
        book_split(corpus_of(10, 1))


def test_corpus_without_a_class_is_refused():
    with pytest.raises(CorpusError, match="no ham e-mails"):
        Corpus("empty-ham", False, [["a"]], [])


def test_vocabulary_reserves_index_0_and_drops_unknown_words():
    vocab = Vocabulary.build([["b", "a"], ["c", "a"]])
    assert vocab.words == (UNKNOWN, "a", "b", "c") and UNKNOWN_INDEX == 0
    encoded = vocab.encode([["c", "zzz", "a"], ["zzz"]], [1, 0])
    assert encoded.indices.tolist() == [1, 3]
    assert encoded.offsets.tolist() == [0, 2, 2]
    assert encoded.labels.tolist() == [1.0, 0.0]


def test_fingerprint_changes_with_the_words():
    assert Vocabulary(["a", "b"]).fingerprint() == Vocabulary(["a", "b"]).fingerprint()
    assert Vocabulary(["a", "b"]).fingerprint() != Vocabulary(["b", "a"]).fingerprint()


def test_subset_and_batches_keep_each_email_with_its_words_and_label():
    emails = EmailSet.from_lists([[1, 2], [3], [], [4, 5, 6]], [1, 0, 0, 1])
    sub = emails.subset(np.array([3, 0]))
    assert sub.indices.tolist() == [4, 5, 6, 1, 2] and sub.labels.tolist() == [1.0, 1.0]
    batches = list(emails.batches(3))
    assert [b[2].tolist() for b in batches] == [[1.0, 0.0, 0.0], [1.0]]
    words, email_of_word, _ = batches[0]
    assert words.tolist() == [1, 2, 3] and email_of_word.tolist() == [0, 0, 1]
    assert batches[1][1].tolist() == [0, 0, 0]
