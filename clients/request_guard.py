"""What a client checks before it trains on a server's request: the request, never its own data.

A refusal that depended on the client's data would be an oracle: a server
could craft requests until the yes/no answers spelled out an e-mail (a
learning rate that overflows only on one word, a ``max-examples`` bisected
against the e-mail count). So the client refuses only for what the server
asked, and its own data never makes it refuse: non-finite update values are
encoded as 0 and counted as clipped, and its weight is capped at the round's
``max-examples`` (``strategies.codec.encode``).

The ledger is per run and never overwritten by a round: one training per
round, rounds only increase and ``rounds-before`` never changes within a run
(so no ``server-round``, to which masks, envelopes and the client's round
state are bound, comes twice, and no round's shuffle is replayed), and no
model is trained on twice (weights and settings compared as the client uses
them, so ``-0.0`` or ``"0.05"`` for ``0.05`` is the same model), so that two
sums cannot differ by exactly one client's update for free. A request names
every training setting (``lr``, ``local-epochs``, ``batch-size``): they shape
the update and are bound into the round's parameters, so a client never fills
one in with a value of its own. A model that differs by less than the codec's
resolution still can: only differential privacy bounds that. Under differential
privacy it also counts this client's own budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from strategies import wire
from strategies.errors import ProtocolError
from strategies.privacy import epsilon_of
from strategies.round_params import RoundParams, model_digest, training_settings

# The book trains with 0.01; a rate far above that serves no training, only
# overflow (one bit per request about the client's data).
MAX_LEARNING_RATE = 10.0
MAX_ABS_WEIGHT = 1e6  # a global model weight beyond this is no spam model
MAX_LOCAL_EPOCHS = 100
MAX_BATCH_SIZE = 1_000_000
# Rounds and seeds seed numpy's generators as 32-bit words: a true round of 2^32 or more
# would alias another round's shuffle under another seed (review 5, F2).
MAX_ROUND = 2**31 - 1


@dataclass
class RunLedger:
    """What this client has done in this run: the last round it trained, the models it
    trained on (SHA-256), and the noise multiplier of each DP contribution."""

    last_round: int = 0
    models: list[bytes] = field(default_factory=list)
    dp_spent: list[float] = field(default_factory=list)
    # The run's rounds-before, fixed by its first training (-1: none yet). Rounds,
    # masks and envelopes are bound to server-round, so with rounds-before fixed a true
    # round that increases is a server-round that increases: no round number comes twice.
    rounds_before: int = -1
    # The digest of the run's public parameters (all but the model), fixed by its first
    # secure training (empty: none yet): the codec, DP and key never change within a run.
    run_params: bytes = b""


def training_round(server_round: int, config: Mapping[str, object]) -> int:
    """The run's true round: a resumed run's strategy counts from 1 again, after
    ``rounds-before``."""
    return server_round + wire.read_int(config, "rounds-before", 0)


def check_training_request(
    ledger: RunLedger,
    server_round: int,
    parameters: list[np.ndarray],
    config: Mapping[str, object],
    run_config: Mapping[str, object] | None = None,
) -> bytes:
    """Refuse a training request that breaks the protocol; its model digest otherwise
    (``model_digest``, with the ``run_config`` as the client reads it).

    Raises
    ------
    ProtocolError
        For a round at or below one already trained, a ``rounds-before`` other
        than the run's, a model already trained on, non-finite or huge
        weights, or settings missing or outside sane bounds.
    """
    rounds_before = wire.read_int(config, "rounds-before", 0)
    if rounds_before < 0 or ledger.rounds_before not in (-1, rounds_before):
        raise ProtocolError(
            f"rounds-before = {rounds_before}: this run's is {ledger.rounds_before}"
        )
    true_round = training_round(server_round, config)
    if not 1 <= true_round <= MAX_ROUND:
        raise ProtocolError(f"round {true_round}: expected 1 to {MAX_ROUND}")
    if true_round <= ledger.last_round:
        raise ProtocolError(
            f"round {true_round}: this client already trained round {ledger.last_round}"
        )
    for array in parameters:
        if not np.all(np.isfinite(array)) or np.abs(array).max(initial=0.0) > MAX_ABS_WEIGHT:
            raise ProtocolError(f"global weights must be finite and within +-{MAX_ABS_WEIGHT:g}")
    lr, epochs, batch = training_settings(config)
    if not (
        0 < lr <= MAX_LEARNING_RATE
        and 1 <= epochs <= MAX_LOCAL_EPOCHS
        and 1 <= batch <= MAX_BATCH_SIZE
    ):
        raise ProtocolError(
            f"training settings lr={lr}, local-epochs={epochs}, batch-size={batch} are out of "
            f"bounds (lr in (0, {MAX_LEARNING_RATE}], epochs 1..{MAX_LOCAL_EPOCHS})"
        )
    digest = model_digest(parameters, config, run_config)
    if digest in ledger.models:
        raise ProtocolError("this client already trained on this model in this run")
    return digest


def record_training(
    ledger: RunLedger,
    server_round: int,
    config: Mapping[str, object],
    digest: bytes,
    params: RoundParams | None = None,
) -> None:
    """Note in ``ledger`` a training ``check_training_request`` allowed, and for a secure
    one its parameters (``params``), which fixes them for the run, and its DP noise."""
    ledger.rounds_before = wire.read_int(config, "rounds-before", 0)
    ledger.last_round = training_round(server_round, config)
    ledger.models = [*ledger.models, digest]
    if params is not None:
        ledger.run_params = params.run_digest()
        if params.dp is not None:
            ledger.dp_spent = [*ledger.dp_spent, params.dp.noise_multiplier]


def check_plain_round(answers_plain: bool, secure_run: bool, ledger: RunLedger, what: str) -> None:
    """Refuse plain training or evaluation, whose reply carries this client's weights or
    metrics in clear, unless its node allows plain rounds, the run is not a secure one,
    and it made no secure contribution in this run.

    Raises
    ------
    ProtocolError
        Otherwise, naming ``what`` was asked.
    """
    if not answers_plain:
        raise ProtocolError(
            f"{what}: this node answers no plain request (node-config allow-plain is not "
            "true, or it has an authenticated roster or a DP requirement)"
        )
    if secure_run or ledger.run_params:
        raise ProtocolError(f"{what} in a secure run: the reply would carry per-client values")


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
