"""Train/test splits: the book's (last e-mails of each class) and a seeded stratified one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .corpus import Corpus, CorpusError

# The book holds out the last 1,000 e-mails of each class.
BOOK_TEST_PER_CLASS = 1_000
# When a class is too small for that, hold out this fraction of it instead.
FALLBACK_TEST_FRACTION = 0.2
# The stratified split holds out this fraction of each class.
STRATIFIED_TEST_FRACTION = 0.2
SPLITS = ("stratified", "book")


@dataclass(frozen=True)
class Split:
    """Train and test e-mails with labels (1 = spam), plus a note on how it was made."""

    train_emails: list[list[str]]
    train_labels: list[int]
    test_emails: list[list[str]]
    test_labels: list[int]
    note: str


def _interleave(spam: list[list[str]], ham: list[list[str]]) -> tuple[list[list[str]], list[int]]:
    """spam, ham, spam, ham, ... then the rest of the larger class, each e-mail once.

    Training order is not decided here: ``SpamModel.fit`` balances the classes
    of every epoch (the book's order, smaller class repeated ``i % len``).
    """
    emails: list[list[str]] = []
    labels: list[int] = []
    for i in range(max(len(spam), len(ham))):
        if i < len(spam):
            emails.append(spam[i])
            labels.append(1)
        if i < len(ham):
            emails.append(ham[i])
            labels.append(0)
    return emails, labels


def _require_fraction(name: str, value: float) -> None:
    """Raise ValueError unless ``value``, the parameter ``name``, is between 0 and 1."""
    if not 0.0 < value < 1.0:
        raise ValueError(f"Expected 0 < {name} < 1, got {value}")


def _too_few(corpus: Corpus, label: str, n: int) -> CorpusError:
    """The error for a class of ``n`` e-mails, too few to give a train and a test e-mail."""
    return CorpusError(
        f"Corpus '{corpus.name}' has only {n} {label} e-mail(s); "
        "expected at least 2 to split into train and test."
    )


def book_split(
    corpus: Corpus,
    test_per_class: int = BOOK_TEST_PER_CLASS,
    fallback_fraction: float = FALLBACK_TEST_FRACTION,
) -> Split:
    """Hold out the last ``test_per_class`` e-mails of each class; interleave the rest.

    A class with fewer than ``2 * test_per_class`` e-mails would lose half or
    more of itself to the test set; for such a corpus every class holds out
    ``fallback_fraction`` of its e-mails instead, and ``Split.note`` says so.

    Raises
    ------
    CorpusError
        If a class has too few e-mails to give both a train and a test e-mail.
    """
    _require_fraction("fallback_fraction", fallback_fraction)
    sizes = {"spam": len(corpus.spam), "ham": len(corpus.ham)}
    if min(sizes.values()) >= 2 * test_per_class:
        counts = {label: test_per_class for label in sizes}
        note = f"book split: last {test_per_class} e-mails of each class are the test set"
    else:
        counts = {label: max(1, round(n * fallback_fraction)) for label, n in sizes.items()}
        note = (
            f"fallback split: a class has fewer than {2 * test_per_class} e-mails "
            f"({sizes['spam']} spam, {sizes['ham']} ham), so the last "
            f"{fallback_fraction:.0%} of each class is the test set"
        )
    for label, n in sizes.items():
        if n - counts[label] < 1:
            raise _too_few(corpus, label, n)
    spam_cut = sizes["spam"] - counts["spam"]
    ham_cut = sizes["ham"] - counts["ham"]
    train_emails, train_labels = _interleave(corpus.spam[:spam_cut], corpus.ham[:ham_cut])
    test_emails, test_labels = _interleave(corpus.spam[spam_cut:], corpus.ham[ham_cut:])
    return Split(train_emails, train_labels, test_emails, test_labels, note)


def _mix(
    spam: list[list[str]], ham: list[list[str]], rng: np.random.Generator
) -> tuple[list[list[str]], list[int]]:
    emails, labels = spam + ham, [1] * len(spam) + [0] * len(ham)
    order = rng.permutation(len(emails))
    return [emails[i] for i in order], [labels[i] for i in order]


def stratified_split(
    corpus: Corpus, seed: int = 0, test_fraction: float = STRATIFIED_TEST_FRACTION
) -> Split:
    """Shuffle each class with ``seed``, hold out ``test_fraction`` of each, shuffle both sets.

    Unlike the book's split, the test set is not the last (often one user's,
    or the newest) e-mails of the file, and every slice of the shuffled sets
    holds both classes in the corpus's proportion.

    Raises
    ------
    CorpusError
        If a class has too few e-mails to give both a train and a test e-mail.
    """
    _require_fraction("test_fraction", test_fraction)
    rng = np.random.default_rng(seed)
    parts = {}
    for label, emails in (("spam", corpus.spam), ("ham", corpus.ham)):
        if len(emails) < 2:
            raise _too_few(corpus, label, len(emails))
        shuffled = [emails[i] for i in rng.permutation(len(emails))]
        k = min(len(emails) - 1, max(1, round(len(emails) * test_fraction)))
        parts[label] = (shuffled[k:], shuffled[:k])
    train_emails, train_labels = _mix(parts["spam"][0], parts["ham"][0], rng)
    test_emails, test_labels = _mix(parts["spam"][1], parts["ham"][1], rng)
    note = (
        f"stratified split (seed {seed}): {test_fraction:.0%} of each class, drawn at random, "
        "is the test set"
    )
    return Split(train_emails, train_labels, test_emails, test_labels, note)


def split_corpus(corpus: Corpus, method: str = "stratified", seed: int = 0) -> Split:
    """The split named ``method`` (one of ``SPLITS``)."""
    if method == "book":
        return book_split(corpus)
    if method == "stratified":
        return stratified_split(corpus, seed)
    raise ValueError(f"Unknown split {method!r}; expected one of {', '.join(SPLITS)}")
