"""The run-config of ``[tool.flwr.app.config]``, parsed into one frozen dataclass."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any

from clients.model import BOOK_RECIPE, DEFAULT_RECIPE, LOSSES, Recipe
from data.loaders import CORPORA, DEFAULT_CORPUS
from data.partition import PARTITIONERS
from data.split import SPLITS
from strategies.chain import DEFAULT_FANIN, MIN_CLIENTS_FLOOR
from strategies.codec import DEFAULT_CLIP, DEFAULT_MAX_EXAMPLES
from strategies.keys import DEFAULT_KEY_BITS, MAX_KEY_BITS, MIN_DEMO_KEY_BITS, MIN_KEY_BITS
from strategies.privacy import DEFAULT_DELTA, DpSettings, noise_multiplier_for

AGGREGATIONS = ("plain", "paillier")
# Corpora that read no files of the user's: a data-path given with them would be ignored.
BUILT_IN_CORPORA = ("synthetic",)
# Corpora that need a data-path (sms reads the shipped file unless given another copy).
FILE_CORPORA = tuple(c for c in CORPORA if c not in ("sms", "synthetic"))
PATH_KEYS = ("data-path", "results-dir", "checkpoint-dir", "key-file")
# What a client reads of the run-config to train (see RunConfig.client_view).
CLIENT_KEYS = (
    "corpus",
    "data-path",
    "spam-folders",
    "split",
    "num-clients",
    "partitioner",
    "dirichlet-alpha",
    "seed",
    "loss",
    "bias",
    "shuffle",
)


class RunConfigError(ValueError):
    """A run-config value that cannot run; the message names the key, the value and the fix."""


# A preset gives its values to the keys left at their defaults (the "default" preset's).
PRESETS = {
    "default": {
        "split": "stratified",
        **{k.replace("_", "-"): v for k, v in DEFAULT_RECIPE.__dict__.items()},
    },
    "book": {"split": "book", **{k.replace("_", "-"): v for k, v in BOOK_RECIPE.__dict__.items()}},
}


@dataclass(frozen=True)
class RunConfig:
    """Every setting of a run; field ``x_y`` is run-config key ``x-y``.

    The defaults equal ``pyproject.toml``'s, so code and tests that build a
    ``RunConfig()`` run what ``flwr run .`` runs.
    """

    num_server_rounds: int = 3
    num_clients: int = 0
    partitioner: str = "book"
    dirichlet_alpha: float = 0.5
    corpus: str = DEFAULT_CORPUS
    data_path: str = ""
    spam_folders: str = "Junk,Spam"
    split: str = "stratified"
    preset: str = "default"
    lr: float = DEFAULT_RECIPE.lr
    batch_size: int = DEFAULT_RECIPE.batch_size
    local_epochs: int = DEFAULT_RECIPE.local_epochs
    loss: str = DEFAULT_RECIPE.loss
    bias: bool = DEFAULT_RECIPE.bias
    shuffle: bool = DEFAULT_RECIPE.shuffle
    seed: int = 0
    aggregation: str = "paillier"
    min_clients: int = 3
    key_bits: int = DEFAULT_KEY_BITS
    insecure_demo_key: bool = False
    clip: float = DEFAULT_CLIP
    max_examples: int = DEFAULT_MAX_EXAMPLES
    round_timeout: float = 600.0
    chain_fanin: int = DEFAULT_FANIN
    results_dir: str = "results"
    checkpoint_dir: str = "checkpoints"
    resume: bool = False
    key_file: str = ""
    dp_clip: float = 0.0
    dp_noise_multiplier: float = 0.0
    target_epsilon: float = 0.0
    dp_delta: float = DEFAULT_DELTA

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise RunConfigError(
                    f"run-config {item.name.replace('_', '-')} = {value!r}: expected a finite "
                    "number (it would make every figure NaN or every wait endless)"
                )
        checks = [
            ("num-server-rounds", self.num_server_rounds >= 1, "an integer >= 1"),
            (
                "num-clients",
                self.num_clients == 0 or self.num_clients >= 2,
                "0 (one client per SuperNode of the federation) or an integer >= 2",
            ),
            ("partitioner", self.partitioner in PARTITIONERS, f"one of {PARTITIONERS}"),
            ("dirichlet-alpha", self.dirichlet_alpha > 0, "a number > 0"),
            ("corpus", self.corpus in CORPORA, f"one of {CORPORA}"),
            ("split", self.split in SPLITS, f"one of {SPLITS}"),
            ("preset", self.preset in PRESETS, f"one of {tuple(PRESETS)}"),
            ("lr", self.lr > 0, "a number > 0"),
            ("batch-size", self.batch_size >= 1, "an integer >= 1"),
            ("local-epochs", self.local_epochs >= 1, "an integer >= 1"),
            ("loss", self.loss in LOSSES, f"one of {LOSSES}"),
            (
                "seed",
                0 <= self.seed < 2**31,
                "an integer from 0 to 2^31 - 1 (numpy's generators take 32-bit words: a "
                "larger seed could repeat another's shuffles)",
            ),
            ("aggregation", self.aggregation in AGGREGATIONS, f"one of {AGGREGATIONS}"),
            (
                "min-clients",
                MIN_CLIENTS_FLOOR <= self.min_clients <= (self.num_clients or self.min_clients),
                f"an integer from {MIN_CLIENTS_FLOOR} to num-clients ({self.num_clients})",
            ),
            (
                "key-bits",
                self.aggregation == "plain"
                or MIN_KEY_BITS <= self.key_bits <= MAX_KEY_BITS
                or (self.insecure_demo_key and MIN_DEMO_KEY_BITS <= self.key_bits),
                f"{MIN_KEY_BITS} to {MAX_KEY_BITS} bits (down to {MIN_DEMO_KEY_BITS} only with "
                "insecure-demo-key = true, for the book's demo)",
            ),
            (
                "data-path",
                self.data_path or self.corpus not in FILE_CORPORA,
                f"the path of the {self.corpus} files: corpus = {self.corpus!r} reads the "
                "user's files",
            ),
            (
                "data-path",
                not self.data_path or self.corpus not in BUILT_IN_CORPORA,
                f"empty: corpus = {self.corpus!r} reads no files (name the corpus kind of "
                f"the files: one of {FILE_CORPORA})",
            ),
            ("clip", self.clip > 0, "a number > 0"),
            ("max-examples", self.max_examples >= 1, "an integer >= 1"),
            ("round-timeout", self.round_timeout > 0, "a number of seconds > 0"),
            (
                "chain-fanin",
                self.chain_fanin >= 1,
                "an integer >= 1 (children per node of the tree; 1: a chain)",
            ),
            ("dp-clip", self.dp_clip >= 0, "0 (differential privacy off) or an L2 bound > 0"),
            ("dp-noise-multiplier", self.dp_noise_multiplier >= 0, "a number >= 0"),
            ("target-epsilon", self.target_epsilon >= 0, "0 (no budget) or an epsilon > 0"),
            ("dp-delta", 0 < self.dp_delta < 1, "a number between 0 and 1"),
            (
                "dp-clip",
                not self.dp_clip or self.dp_noise_multiplier or self.target_epsilon,
                "a noise source: dp-noise-multiplier > 0 or target-epsilon > 0",
            ),
            (
                "dp-clip",
                not self.dp_clip or self.aggregation == "paillier",
                "aggregation = 'paillier' with it: each client adds only a share of the noise, "
                "so only a securely aggregated sum is protected",
            ),
            (
                "dp-clip",
                self.dp_clip or not (self.dp_noise_multiplier or self.target_epsilon),
                "> 0 when dp-noise-multiplier or target-epsilon is set",
            ),
        ]
        for key, ok, expected in checks:
            if not ok:
                value = getattr(self, key.replace("-", "_"))
                raise RunConfigError(f"run-config {key} = {value!r}: expected {expected}")

    def check_paths(self) -> None:
        """Refuse a ``~user`` path whose user does not exist. Checked where the paths are
        used (the command line, the ServerApp), never on a client: there it would tell a
        server which accounts the client's machine has.

        Raises
        ------
        RunConfigError
            Naming the key and the user.
        """
        for key in PATH_KEYS:
            value = getattr(self, key.replace("-", "_"))
            if (user := _user_of(value)) is not None:
                raise RunConfigError(
                    f"run-config {key} = {value!r}: expected a path on this machine: there is "
                    f"no user {user!r} — check the ~user part"
                )

    def check_training_set(self, train_size: int) -> None:
        """Refuse a ``max-examples`` below the training set: every secure round would be
        skipped (a client's count is refused above it), and the run would end untrained.

        Raises
        ------
        RunConfigError
            Naming the key, the value and the size it must reach.
        """
        if self.aggregation == "paillier" and not self.dp_clip and self.max_examples < train_size:
            raise RunConfigError(
                f"run-config max-examples = {self.max_examples}: expected at least the "
                f"{train_size} training e-mails of the corpus (the bound on a round's total)"
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> RunConfig:
        """Parse a run-config (``context.run_config``); unknown keys are an error."""
        known = {f.name: f for f in fields(cls)}
        # Each value is checked against, or converted to, its field's type below.
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            name = key.replace("-", "_")
            if name not in known:
                options = ", ".join(sorted(k.replace("_", "-") for k in known))
                raise RunConfigError(f"Unknown run-config key {key!r}; known keys: {options}")
            default = known[name].default
            if default is MISSING:  # every field has a default: its type is the key's type
                raise TypeError(f"RunConfig.{name} has no default to take its type from")
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise RunConfigError(f"run-config {key} = {value!r}: expected true or false")
                kwargs[name] = value
                continue
            try:
                kwargs[name] = type(default)(value)  # TOML gives int for 1, float for 1.0
            except (TypeError, ValueError) as exc:
                raise RunConfigError(
                    f"run-config {key} = {value!r}: expected {type(default).__name__}"
                ) from exc
        preset = PRESETS.get(str(kwargs.get("preset", "default")), {})
        for key, value in preset.items():
            name = key.replace("-", "_")
            if kwargs.get(name, known[name].default) == PRESETS["default"][key]:
                kwargs[name] = value
        return cls(**kwargs)

    @property
    def recipe(self) -> Recipe:
        """How each client trains: loss, SGD settings, bias and shuffling."""
        return Recipe(
            self.loss, self.lr, self.batch_size, self.local_epochs, self.bias, self.shuffle
        )

    def spam_folder_names(self) -> tuple[str, ...]:
        """``spam-folders`` as names: the Maildir folders whose mail is spam."""
        return tuple(name.strip() for name in self.spam_folders.split(",") if name.strip())

    def train_config(self) -> dict[str, float | int]:
        """The per-round settings the server sends to every client."""
        return {"lr": self.lr, "batch-size": self.batch_size, "local-epochs": self.local_epochs}

    def dp_settings(self, num_weights: int | None = None) -> DpSettings | None:
        """The run's DP parameters (``None`` when off); the noise multiplier is derived
        from ``target-epsilon`` over ``num-server-rounds`` when not given.

        Raises
        ------
        RunConfigError
            If the settings cannot run, or (given the model's ``num_weights``) the
            codec's fixed-point grid cannot carry them: every client would refuse.
        """
        if not self.dp_clip:
            return None
        try:
            z = self.dp_noise_multiplier or noise_multiplier_for(
                self.target_epsilon, self.num_server_rounds, self.dp_delta
            )
            dp = DpSettings(self.dp_clip, z, self.min_clients, self.dp_delta)
            if num_weights is not None:
                dp.check_grid(num_weights)
        except ValueError as exc:
            raise RunConfigError(f"run-config dp-clip = {self.dp_clip}: {exc}") from exc
        return dp

    def to_dict(self) -> dict[str, object]:
        """As run-config keys, for results files."""
        return {f.name.replace("_", "-"): getattr(self, f.name) for f in fields(self)}

    def client_view(self) -> dict[str, object]:
        """The keys a client's update depends on besides the request's own settings: which
        e-mails it trains on (its data and its shard) and how (the rest of the recipe), with
        the preset's values filled in. A server may serve each node another run-config, so
        these are bound into the model digest; the rest is the server's own business."""
        values = self.to_dict()
        return {key: values[key] for key in CLIENT_KEYS}


def _user_of(path: str) -> str | None:
    """The unknown user of a ``~user/...`` path (``None`` when there is none)."""
    if not path.startswith("~") or os.path.expanduser(path) != path:
        return None
    return path[1:].split("/", 1)[0] or "(you)"
