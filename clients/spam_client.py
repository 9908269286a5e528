"""``SpamClient``: the book's spam model on one mail owner's shard, as a Flower NumPyClient."""

from __future__ import annotations

import numpy as np
from flwr.client import NumPyClient

from data.email_set import EmailSet

from .model import BOOK_BATCH_SIZE, BOOK_LEARNING_RATE, SpamModel


class SpamClient(NumPyClient):
    """Trains and evaluates the embedding spam model on one shard.

    It knows nothing of encryption: the ClientApp handlers that call it do
    the crypto. Round settings arrive in ``config`` (``lr``, ``batch-size``,
    ``local-epochs``); the constructor's values are the defaults.

    Parameters
    ----------
    train, test : EmailSet
        This client's training shard and its slice of the test set.
    vocab_size : int
        Rows of the embedding.
    loss : str
        ``"mse"`` (the book's) or ``"bce"``.
    lr, batch_size, local_epochs :
        SGD settings; the book's are 0.01, 500 and 1.
    """

    def __init__(
        self,
        train: EmailSet,
        test: EmailSet,
        vocab_size: int,
        loss: str = "mse",
        lr: float = BOOK_LEARNING_RATE,
        batch_size: int = BOOK_BATCH_SIZE,
        local_epochs: int = 1,
    ) -> None:
        self.train = train
        self.test = test
        self.model = SpamModel.zeros(vocab_size, loss)
        self.defaults = {"lr": lr, "batch-size": batch_size, "local-epochs": local_epochs}

    def _set_parameters(self, parameters: list[np.ndarray]) -> None:
        if len(parameters) != 1 or parameters[0].shape != self.model.weights.shape:
            shapes = [p.shape for p in parameters]
            raise ValueError(
                f"Expected one array of shape {self.model.weights.shape}, got {shapes}: "
                "the server and this client use different vocabularies"
            )
        self.model.weights = np.array(parameters[0], dtype=np.float64)

    def get_parameters(self, config: dict) -> list[np.ndarray]:
        """The embedding, as one ``(vocab, 1)`` array."""
        return [self.model.weights.copy()]

    def fit(self, parameters: list[np.ndarray], config: dict) -> tuple[list[np.ndarray], int, dict]:
        """Train on the shard from ``parameters``; return new weights, examples, metrics."""
        self._set_parameters(parameters)
        settings = {**self.defaults, **{k: config[k] for k in self.defaults if k in config}}
        loss = self.model.fit(
            self.train,
            lr=float(settings["lr"]),
            batch_size=int(settings["batch-size"]),
            epochs=int(settings["local-epochs"]),
        )
        return self.get_parameters({}), len(self.train), {"train_loss": loss}

    def evaluate(self, parameters: list[np.ndarray], config: dict) -> tuple[float, int, dict]:
        """Loss, number of e-mails and accuracy on this client's test slice."""
        self._set_parameters(parameters)
        loss, accuracy = self.model.evaluate(self.test)
        return loss, len(self.test), {"accuracy": accuracy}
