"""``SpamClient``: the book's spam model on one mail owner's shard, as a Flower NumPyClient."""

from __future__ import annotations

import numpy as np
from flwr.client import NumPyClient

from data.email_set import EmailSet

from .model import DEFAULT_RECIPE, Recipe, SpamModel
from .request_guard import training_round
from .spam_metrics import slice_report


class SpamClient(NumPyClient):
    """Trains and evaluates the embedding spam model on one shard.

    It knows nothing of encryption: the ClientApp handlers that call it do
    the crypto. Round settings arrive in ``config`` (``lr``, ``batch-size``,
    ``local-epochs``, ``server-round``, ``rounds-before``); the recipe's values are the defaults.

    Parameters
    ----------
    train, test : EmailSet
        This client's training shard and its slice of the test set.
    vocab_size : int
        Rows of the embedding.
    recipe : Recipe
        Loss, bias, shuffling and default SGD settings (local epochs per round).
    seed : int
        With the round number, seeds the shuffle of every epoch (``recipe.shuffle``).
    """

    def __init__(
        self,
        train: EmailSet,
        test: EmailSet,
        vocab_size: int,
        recipe: Recipe = DEFAULT_RECIPE,
        seed: int = 0,
    ) -> None:
        self.train = train
        self.test = test
        self.model = SpamModel.zeros(vocab_size, recipe.loss, recipe.bias)
        self.shuffle, self.seed = recipe.shuffle, seed
        self.defaults = {
            "lr": recipe.lr,
            "batch-size": recipe.batch_size,
            "local-epochs": recipe.local_epochs,
        }

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
        # The run's true round: a resumed run's strategy counts from 1 again, after "rounds-before".
        true_round = training_round(int(config.get("server-round", 0)), config)
        rng = np.random.default_rng([self.seed, true_round]) if self.shuffle else None
        loss = self.model.fit(
            self.train,
            lr=float(settings["lr"]),
            batch_size=int(settings["batch-size"]),
            epochs=int(settings["local-epochs"]),
            rng=rng,
        )
        return self.get_parameters({}), len(self.train), {"train_loss": loss}

    def evaluate(self, parameters: list[np.ndarray], config: dict) -> tuple[float, int, dict]:
        """Loss, number of e-mails and the summable report (``slice_report``) of this test slice."""
        self._set_parameters(parameters)
        loss, _ = self.model.evaluate(self.test)
        return loss, len(self.test), slice_report(self.model.predict(self.test), self.test.labels)
