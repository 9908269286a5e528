"""Word vocabulary with a padding/unknown token whose weight stays 0."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from .email_set import EmailSet

# The book pads e-mails with this token and zeroes its weight before every
# batch; we never pad, but keep index 0 for words missing from the vocabulary.
UNKNOWN = "<unk>"
UNKNOWN_INDEX = 0


class Vocabulary:
    """Maps words to row indices of the embedding.

    Parameters
    ----------
    words : Iterable[str]
        The words, without the unknown token, which is always index 0.
    """

    def __init__(self, words: Iterable[str]) -> None:
        self.words: tuple[str, ...] = (UNKNOWN, *(w for w in words if w != UNKNOWN))
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("Vocabulary words must be unique")

    @classmethod
    def build(cls, emails: Iterable[Iterable[str]]) -> Vocabulary:
        """Every word that occurs in ``emails``, sorted so the order is reproducible."""
        return cls(sorted({w for email in emails for w in email}))

    def __len__(self) -> int:
        return len(self.words)

    def fingerprint(self) -> str:
        """SHA-256 over the words in order: equal iff the embedding rows mean the same."""
        return hashlib.sha256("\n".join(self.words).encode("utf-8")).hexdigest()

    def encode(self, emails: list[list[str]], labels: list[int]) -> EmailSet:
        """Turn e-mails into index arrays; words not in the vocabulary are dropped."""
        get = self.index.get
        encoded = [
            sorted({i for w in email if (i := get(w, UNKNOWN_INDEX)) != UNKNOWN_INDEX})
            for email in emails
        ]
        return EmailSet.from_lists(encoded, labels)
