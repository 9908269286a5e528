"""The book's chapter-15 spam model in vectorised numpy.

A ``vocab x 1`` embedding; an e-mail's logit is the sum of the embeddings of
its unique words, plus row 0 as a bias when ``bias`` is on (the book keeps
row 0, its padding token, at 0); the prediction is ``sigmoid(logit)``.
Trained by mini-batch SGD on the *summed* (not averaged) loss of the batch,
as the book's framework does: ``MSELoss`` is ``((pred - target) ** 2).sum(0)``.

Every epoch is class-balanced: spam, ham, spam, ham, ... with the smaller
class repeated (``i % len``, the book's order), so that no epoch ends in a
long run of one class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.email_set import EmailSet
from data.vocabulary import UNKNOWN_INDEX

from .spam_metrics import SpamMetrics, spam_metrics

LOSSES = ("mse", "bce")
# Row 0 of the embedding: the book's padding token, our bias.
BIAS_INDEX = UNKNOWN_INDEX


@dataclass(frozen=True)
class Recipe:
    """How the model is trained: loss, SGD settings, bias, and whether epochs are shuffled."""

    loss: str
    lr: float
    batch_size: int
    local_epochs: int
    bias: bool
    shuffle: bool


# Reaches the reference logistic regression on the SMS corpus (README, "Model quality").
DEFAULT_RECIPE = Recipe(loss="bce", lr=0.1, batch_size=32, local_epochs=3, bias=True, shuffle=True)
# The book's chapter 15: MSE, lr 0.01, batches of 500, no bias, the file's order.
BOOK_RECIPE = Recipe(loss="mse", lr=0.01, batch_size=500, local_epochs=1, bias=False, shuffle=False)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # tanh form: no overflow warning for large |z|.
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _logits(
    weights: np.ndarray, words: np.ndarray, email_of_word: np.ndarray, n: int
) -> np.ndarray:
    # Row 0 is 0 unless the bias is trained, so adding it is the book's model too.
    return (
        np.bincount(email_of_word, weights=weights[words, 0], minlength=n) + weights[BIAS_INDEX, 0]
    )


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
    bias: bool = False,
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
    bias : bool
        Train row 0 as a bias; when off its gradient is 0, as in the book.

    Returns
    -------
    tuple[float, np.ndarray]
        The loss summed over the batch, and a ``(vocab, 1)`` gradient.
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
    grad[BIAS_INDEX] = d_logit.sum() if bias else 0.0
    return _loss_sum(logits, targets, loss), grad.reshape(weights.shape)


def balanced_order(labels: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Rows for one class-balanced epoch: spam, ham, spam, ham, ... ``2 * max`` rows.

    The smaller class is repeated (``i % len``) as the book does; with ``rng``
    each class is shuffled first. A set of one class is that class in order.
    """
    spam, ham = np.flatnonzero(labels > 0.5), np.flatnonzero(labels <= 0.5)
    if rng is not None:
        spam, ham = rng.permutation(spam), rng.permutation(ham)
    if spam.size == 0 or ham.size == 0:
        return spam if ham.size == 0 else ham
    n = max(spam.size, ham.size)
    order = np.empty(2 * n, dtype=np.int64)
    order[0::2] = spam[np.arange(n) % spam.size]
    order[1::2] = ham[np.arange(n) % ham.size]
    return order


@dataclass
class SpamModel:
    """The embedding and its training loop.

    Parameters
    ----------
    weights : np.ndarray
        ``(vocab, 1)`` float64 embedding; the book starts from zeros.
    loss : str
        ``"mse"`` (the book's) or ``"bce"``.
    bias : bool
        Row 0 is a trained bias; off, it stays 0 (the book's padding token).
    """

    weights: np.ndarray
    loss: str = DEFAULT_RECIPE.loss
    bias: bool = DEFAULT_RECIPE.bias

    @classmethod
    def zeros(
        cls, vocab_size: int, loss: str = DEFAULT_RECIPE.loss, bias: bool = DEFAULT_RECIPE.bias
    ) -> SpamModel:
        """The book's initial model: every word weighs 0."""
        return cls(np.zeros((vocab_size, 1), dtype=np.float64), loss, bias)

    def fit(
        self,
        emails: EmailSet,
        lr: float = DEFAULT_RECIPE.lr,
        batch_size: int = DEFAULT_RECIPE.batch_size,
        epochs: int = 1,
        rng: np.random.Generator | None = None,
    ) -> float:
        """Mini-batch SGD over class-balanced epochs; returns the last epoch's mean loss.

        ``rng`` shuffles each class every epoch; ``None`` keeps the set's order.
        """
        if len(emails) == 0:
            raise ValueError("Cannot train on an empty set of e-mails")
        total, seen = 0.0, 1
        for _ in range(epochs):
            epoch = emails.subset(balanced_order(emails.labels, rng))
            total, seen = 0.0, len(epoch)
            for words, email_of_word, targets in epoch.batches(batch_size):
                batch_loss, grad = loss_and_gradient(
                    self.weights, words, email_of_word, targets, self.loss, self.bias
                )
                self.weights -= lr * grad
                total += batch_loss
        if not self.bias:
            self.weights[BIAS_INDEX] = 0.0
        return total / seen

    def predict(self, emails: EmailSet) -> np.ndarray:
        """Spam probability of every e-mail."""
        email_of_word = np.repeat(np.arange(len(emails)), emails.lengths)
        return _sigmoid(_logits(self.weights, emails.indices, email_of_word, len(emails)))

    def evaluate(self, emails: EmailSet) -> tuple[float, SpamMetrics]:
        """Mean loss and every spam-filter figure (threshold 0.5) on ``emails``."""
        if len(emails) == 0:
            raise ValueError("Cannot evaluate on an empty set of e-mails")
        email_of_word = np.repeat(np.arange(len(emails)), emails.lengths)
        logits = _logits(self.weights, emails.indices, email_of_word, len(emails))
        loss = _loss_sum(logits, emails.labels, self.loss) / len(emails)
        return loss, spam_metrics(_sigmoid(logits), emails.labels)
