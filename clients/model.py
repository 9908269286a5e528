"""The book's chapter-15 spam model in vectorised numpy.

A ``vocab x 1`` embedding; an e-mail's logit is the sum of the embeddings of
its unique words; the prediction is ``sigmoid(logit)``. Trained by mini-batch
SGD on the *summed* (not averaged) loss of the batch, as the book's framework
does: ``MSELoss`` is ``((pred - target) ** 2).sum(0)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.email_set import EmailSet
from data.vocabulary import UNKNOWN_INDEX

LOSSES = ("mse", "bce")
# The book's hyper-parameters (chapter 15).
BOOK_LEARNING_RATE = 0.01
BOOK_BATCH_SIZE = 500


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # tanh form: no overflow warning for large |z|.
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _logits(weights: np.ndarray, words: np.ndarray, email_of_word: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(email_of_word, weights=weights[words, 0], minlength=n)


def _loss_sum(logits: np.ndarray, targets: np.ndarray, loss: str) -> float:
    if loss == "mse":
        return float(((_sigmoid(logits) - targets) ** 2).sum())
    # Binary cross-entropy from logits, stable: log(1 + e^z) - t z.
    return float((np.logaddexp(0.0, logits) - targets * logits).sum())


def loss_and_gradient(
    weights: np.ndarray,
    words: np.ndarray,
    email_of_word: np.ndarray,
    targets: np.ndarray,
    loss: str = "mse",
) -> tuple[float, np.ndarray]:
    """Summed loss of one batch and its gradient with respect to ``weights``.

    Parameters
    ----------
    weights : np.ndarray
        ``(vocab, 1)`` embedding.
    words, email_of_word : np.ndarray
        Flat word indices of the batch and the e-mail (0..n-1) each belongs to.
    targets : np.ndarray
        ``(n,)`` labels, 1.0 = spam.
    loss : str
        ``"mse"`` (the book's) or ``"bce"``.

    Returns
    -------
    tuple[float, np.ndarray]
        The loss summed over the batch, and a ``(vocab, 1)`` gradient whose
        unknown-word row is 0.
    """
    if loss not in LOSSES:
        raise ValueError(f"Expected loss in {LOSSES}, got {loss!r}")
    logits = _logits(weights, words, email_of_word, targets.size)
    pred = _sigmoid(logits)
    if loss == "mse":
        d_logit = 2.0 * (pred - targets) * pred * (1.0 - pred)
    else:
        d_logit = pred - targets
    grad = np.bincount(words, weights=d_logit[email_of_word], minlength=weights.shape[0])
    grad[UNKNOWN_INDEX] = 0.0
    return _loss_sum(logits, targets, loss), grad.reshape(weights.shape)


@dataclass
class SpamModel:
    """The embedding and its training loop.

    Parameters
    ----------
    weights : np.ndarray
        ``(vocab, 1)`` float64 embedding; the book starts from zeros.
    loss : str
        ``"mse"`` (default, the book's) or ``"bce"``.
    """

    weights: np.ndarray
    loss: str = "mse"

    @classmethod
    def zeros(cls, vocab_size: int, loss: str = "mse") -> SpamModel:
        """The book's initial model: every word weighs 0."""
        return cls(np.zeros((vocab_size, 1), dtype=np.float64), loss)

    def fit(
        self,
        emails: EmailSet,
        lr: float = BOOK_LEARNING_RATE,
        batch_size: int = BOOK_BATCH_SIZE,
        epochs: int = 1,
    ) -> float:
        """Mini-batch SGD in the order of ``emails``; returns the last epoch's mean loss."""
        if len(emails) == 0:
            raise ValueError("Cannot train on an empty set of e-mails")
        total = 0.0
        for _ in range(epochs):
            total = 0.0
            for words, email_of_word, targets in emails.batches(batch_size):
                batch_loss, grad = loss_and_gradient(
                    self.weights, words, email_of_word, targets, self.loss
                )
                self.weights -= lr * grad
                total += batch_loss
        self.weights[UNKNOWN_INDEX] = 0.0
        return total / len(emails)

    def predict(self, emails: EmailSet) -> np.ndarray:
        """Spam probability of every e-mail."""
        email_of_word = np.repeat(np.arange(len(emails)), emails.lengths)
        return _sigmoid(_logits(self.weights, emails.indices, email_of_word, len(emails)))

    def evaluate(self, emails: EmailSet) -> tuple[float, float]:
        """Mean loss and accuracy (fraction, threshold 0.5) on ``emails``."""
        if len(emails) == 0:
            raise ValueError("Cannot evaluate on an empty set of e-mails")
        email_of_word = np.repeat(np.arange(len(emails)), emails.lengths)
        logits = _logits(self.weights, emails.indices, email_of_word, len(emails))
        loss = _loss_sum(logits, emails.labels, self.loss) / len(emails)
        accuracy = float(((_sigmoid(logits) > 0.5) == (emails.labels > 0.5)).mean())
        return loss, accuracy
