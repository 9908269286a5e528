"""Encoded e-mails: word indices of many e-mails in one flat (CSR) array."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EmailSet:
    """E-mails as unique word indices, stored flat without padding.

    E-mail ``i`` is ``indices[offsets[i]:offsets[i + 1]]``; ``labels[i]`` is 1
    for spam and 0 for ham.

    Parameters
    ----------
    indices : np.ndarray
        int32 word indices of all e-mails, one after the other.
    offsets : np.ndarray
        int64, length ``len(self) + 1``, starting at 0.
    labels : np.ndarray
        float64 targets, 1.0 = spam, 0.0 = ham.
    """

    indices: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        if self.offsets.ndim != 1 or self.offsets.size != self.labels.size + 1:
            raise ValueError(
                f"Expected {self.labels.size + 1} offsets for {self.labels.size} "
                f"labels, got {self.offsets.size}"
            )
        if self.offsets[0] != 0 or self.offsets[-1] != self.indices.size:
            raise ValueError("Offsets must start at 0 and end at len(indices)")

    @classmethod
    def from_lists(cls, emails: list[list[int]], labels: list[int]) -> EmailSet:
        """Build from one list of word indices per e-mail."""
        lengths = np.fromiter((len(e) for e in emails), dtype=np.int64, count=len(emails))
        offsets = np.zeros(len(emails) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat = [i for e in emails for i in e]
        return cls(
            indices=np.asarray(flat, dtype=np.int32),
            offsets=offsets,
            labels=np.asarray(labels, dtype=np.float64),
        )

    def __len__(self) -> int:
        return int(self.labels.size)

    @property
    def lengths(self) -> np.ndarray:
        """Number of words of every e-mail."""
        return np.diff(self.offsets)

    @property
    def num_spam(self) -> int:
        """Number of e-mails labelled spam."""
        return int(self.labels.sum())

    def subset(self, rows: np.ndarray) -> EmailSet:
        """The e-mails at ``rows``, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        lengths = self.lengths[rows]
        offsets = np.zeros(rows.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        # Gather every selected token in one vectorised step.
        starts = np.repeat(self.offsets[rows] - offsets[:-1], lengths)
        positions = starts + np.arange(offsets[-1])
        return EmailSet(self.indices[positions], offsets, self.labels[rows])

    def batches(self, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Yield ``(word_indices, email_of_word, labels)`` per mini-batch, in order.

        ``email_of_word`` numbers the e-mails of the batch from 0. The last
        batch holds the remainder (the book drops it; small shards cannot).
        """
        if batch_size < 1:
            raise ValueError(f"Expected batch_size >= 1, got {batch_size}")
        email_of_word = np.repeat(np.arange(len(self), dtype=np.int64), self.lengths)
        for start in range(0, len(self), batch_size):
            stop = min(start + batch_size, len(self))
            lo, hi = self.offsets[start], self.offsets[stop]
            yield self.indices[lo:hi], email_of_word[lo:hi] - start, self.labels[start:stop]
