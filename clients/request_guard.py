"""What a client checks before it trains on a server's request: the request, never its own data.

A refusal that depended on the client's data would be an oracle: a server
could craft requests until the yes/no answers spelled out an e-mail (a
learning rate that overflows only on one word, a ``max-examples`` bisected
against the e-mail count). So the client refuses only for what the server
asked, and its own data never makes it refuse: non-finite update values are
encoded as 0 and counted as clipped, and its weight is capped at the round's
``max-examples`` (``strategies.codec.encode``).

The ledger is per run and never overwritten by a round: one training per
round, rounds only increase (the run's true round, ``server-round`` plus
``rounds-before``, so a server cannot replay a round's shuffle), and no
model is trained on twice (weights and settings compared as the client uses
them, so ``-0.0`` or ``"0.05"`` for ``0.05`` is the same model), so that two
sums cannot differ by exactly one client's update for free. A model that
differs by less than the codec's resolution still can: only differential
privacy bounds that. Under differential
privacy it also counts this client's own budget.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from strategies import wire
from strategies.errors import ProtocolError
from strategies.privacy import epsilon_of

# The book trains with 0.01; a rate far above that serves no training, only
# overflow (one bit per request about the client's data).
MAX_LEARNING_RATE = 10.0
MAX_ABS_WEIGHT = 1e6  # a global model weight beyond this is no spam model
MAX_LOCAL_EPOCHS = 100
MAX_BATCH_SIZE = 1_000_000


@dataclass
class RunLedger:
    """What this client has done in this run: the last round it trained, the models it
    trained on (SHA-256), and the noise multiplier of each DP contribution."""

    last_round: int = 0
    models: list[bytes] = field(default_factory=list)
    dp_spent: list[float] = field(default_factory=list)


def training_round(server_round: int, config: Mapping[str, object]) -> int:
    """The run's true round: a resumed run's strategy counts from 1 again, after
    ``rounds-before``."""
    return server_round + wire.read_int(config, "rounds-before", 0)


def _settings(config: Mapping[str, object]) -> tuple[float, int, int]:
    """``lr``, ``local-epochs`` and ``batch-size`` as the client uses them."""
    return (
        wire.read_float(config, "lr", 0.01),
        wire.read_int(config, "local-epochs", 1),
        wire.read_int(config, "batch-size", 1),
    )


def model_digest(parameters: list[np.ndarray], config: Mapping[str, object]) -> bytes:
    """SHA-256 of the global weights (``-0.0`` as ``0.0``) and the training settings as used."""
    digest = hashlib.sha256()
    for array in parameters:
        digest.update(np.ascontiguousarray(np.asarray(array, dtype=np.float64) + 0.0).tobytes())
    digest.update(repr(_settings(config)).encode())
    return digest.digest()


def check_training_request(
    ledger: RunLedger, server_round: int, parameters: list[np.ndarray], config: Mapping[str, object]
) -> bytes:
    """Refuse a training request that breaks the protocol; its model digest otherwise.

    Raises
    ------
    ProtocolError
        For a round (the run's true round) at or below one already trained, a
        model already trained on, non-finite or huge weights, or settings
        outside sane bounds.
    """
    true_round = training_round(server_round, config)
    if wire.read_int(config, "rounds-before", 0) < 0 or true_round <= ledger.last_round:
        raise ProtocolError(
            f"round {true_round}: this client already trained round {ledger.last_round}"
        )
    for array in parameters:
        if not np.all(np.isfinite(array)) or np.abs(array).max(initial=0.0) > MAX_ABS_WEIGHT:
            raise ProtocolError(f"global weights must be finite and within +-{MAX_ABS_WEIGHT:g}")
    lr, epochs, batch = _settings(config)
    if not (
        0 < lr <= MAX_LEARNING_RATE
        and 1 <= epochs <= MAX_LOCAL_EPOCHS
        and 1 <= batch <= MAX_BATCH_SIZE
    ):
        raise ProtocolError(
            f"training settings lr={lr}, local-epochs={epochs}, batch-size={batch} are out of "
            f"bounds (lr in (0, {MAX_LEARNING_RATE}], epochs 1..{MAX_LOCAL_EPOCHS})"
        )
    digest = model_digest(parameters, config)
    if digest in ledger.models:
        raise ProtocolError("this client already trained on this model in this run")
    return digest


def check_dp_budget(
    ledger: RunLedger, noise_multiplier: float, max_epsilon: float, delta: float
) -> None:
    """Refuse a DP contribution that would take this client past its own epsilon budget.

    Raises
    ------
    ProtocolError
        If ``max_epsilon > 0`` and one more round at this noise exceeds it.
    """
    if max_epsilon > 0:
        spent = epsilon_of([*ledger.dp_spent, noise_multiplier], delta)
        if spent > max_epsilon:
            raise ProtocolError(
                f"one more DP round would take this client to epsilon {spent:.2f}, beyond its "
                f"budget {max_epsilon}"
            )
