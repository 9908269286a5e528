"""From a corpus to encoded train and test sets: vocabulary, split, encoding."""

from __future__ import annotations

from dataclasses import dataclass

from .corpus import Corpus
from .email_set import EmailSet
from .split import split_corpus
from .vocabulary import Vocabulary


@dataclass(frozen=True)
class PreparedData:
    """Everything training needs from a corpus.

    ``corpus`` is the name to print beside every figure: it says "SYNTHETIC"
    when the e-mails were generated.
    """

    corpus: str
    synthetic: bool
    vocabulary: Vocabulary
    train: EmailSet
    test: EmailSet
    split_note: str


def prepare(corpus: Corpus, split: str = "stratified", seed: int = 0) -> PreparedData:
    """Build the vocabulary over every e-mail (as the book does), split and encode.

    ``split`` is ``"stratified"`` (seeded with ``seed``) or ``"book"``.
    """
    vocabulary = Vocabulary.build(corpus.spam + corpus.ham)
    halves = split_corpus(corpus, split, seed)
    return PreparedData(
        corpus=corpus.label,
        synthetic=corpus.synthetic,
        vocabulary=vocabulary,
        train=vocabulary.encode(halves.train_emails, halves.train_labels),
        test=vocabulary.encode(halves.test_emails, halves.test_labels),
        split_note=halves.note,
    )
