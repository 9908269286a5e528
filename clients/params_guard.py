"""What a client checks of a round's public parameters, before it touches its data.

The server chooses every value that shapes an update, its encoding or its
noise, and a server that does not follow the protocol may choose them
differently for each client (issue 21). A client checks them against its
own node config (``node_policy.ClientPolicy``) and against the key it
encrypts under, before it loads or trains on any mail, so a refusal says
nothing about its data; after these checks nothing that depends on its data
can make encoding fail or wrap (``strategies.codec.encode``). The digest of
the checked set is then bound into every envelope and mask seed of the round
(``strategies.round_params``), so clients given different sets cannot end in
one decrypted sum.
"""

from __future__ import annotations

from collections.abc import Mapping

from strategies import wire
from strategies.codec import CodecParams
from strategies.errors import ProtocolError
from strategies.keys import n_from_bytes, public_key_from_n
from strategies.privacy import DpSettings
from strategies.round_params import RoundParams

from .node_policy import ClientPolicy
from .request_guard import RunLedger, check_dp_budget


def read_round_params(
    paillier: Mapping[str, object], config: Mapping[str, object], model: bytes
) -> RoundParams:
    """The parameter set of a secure training request: the Paillier record (``n`` and the
    codec), the DP settings of the train config, and the ``model`` digest
    (``request_guard.check_training_request`` returns it).

    Raises
    ------
    ProtocolError
        If a value is missing or of the wrong kind.
    """
    return RoundParams(
        n_from_bytes(wire.read_bytes(paillier, wire.N)),
        CodecParams.from_config(paillier),
        DpSettings.from_config(config),
        model,
    )


def _require(ok: bool, problem: str) -> None:
    if not ok:
        raise ProtocolError(problem)


def check_round_params(
    params: RoundParams, num_weights: int, policy: ClientPolicy, ledger: RunLedger
) -> None:
    """Refuse a parameter set this node does not accept.

    Parameters
    ----------
    params : RoundParams
        What the request asks for.
    num_weights : int
        The size of the global model the request carries.
    policy : ClientPolicy
        This node's bounds.
    ledger : RunLedger
        This run so far: its parameters, fixed by its first secure training, and the
        DP budget spent.

    Raises
    ------
    ProtocolError
        For a key the node's policy refuses or whose size the codec misstates (a
        plaintext could then reach ``n``, and encryption fail on large values only:
        an oracle on the data), a codec for another model size or beyond the node's
        bounds, DP settings below its floors or beyond its budget, no DP where it
        requires DP, or a set that differs from the run's.
    """
    try:
        public_key_from_n(params.n, policy.insecure_demo_key)
    except ValueError as exc:  # InsecureKeyError too: the server cannot lower the key policy
        raise ProtocolError(f"the server's Paillier key: {exc}") from exc
    codec, key_bits = params.codec, params.n.bit_length()
    _require(
        codec.key_bits == key_bits,
        f"codec key-bits = {codec.key_bits}, but the key's modulus has {key_bits} bits",
    )
    # Implied by the line above; stated because it is what makes encryption data-independent.
    _require(
        codec.slots_per_plaintext * codec.slot_bits <= key_bits - 1,
        "the packed plaintext would not stay below n",
    )
    _require(
        codec.num_weights == num_weights,
        f"codec num-weights = {codec.num_weights}, but the model has {num_weights}",
    )
    _require(
        codec.clip <= policy.max_clip and codec.max_examples <= policy.max_examples,
        f"clip {codec.clip} / max-examples {codec.max_examples} beyond this node's bounds "
        f"({policy.max_clip:g} / {policy.max_examples})",
    )
    _check_dp(params.dp, codec, policy, ledger)
    _require(
        ledger.run_params in (b"", params.run_digest()),
        "the round's parameters differ from those this run started with",
    )


def _check_dp(
    dp: DpSettings | None, codec: CodecParams, policy: ClientPolicy, ledger: RunLedger
) -> None:
    if dp is None:
        _require(
            not policy.requires_dp,
            "this node requires differential privacy, and the round asks for none",
        )
        return
    try:
        dp.check_grid(codec.num_weights)
    except ValueError as exc:
        raise ProtocolError(f"differential privacy settings: {exc}") from exc
    _require(
        dp.noise_multiplier >= policy.min_noise_multiplier,
        f"noise multiplier {dp.noise_multiplier} is below this node's floor "
        f"{policy.min_noise_multiplier}",
    )
    _require(
        policy.dp_min_clip <= dp.clip <= policy.dp_max_clip,
        f"dp-clip {dp.clip} is outside this node's range [{policy.dp_min_clip:g}, "
        f"{policy.dp_max_clip:g}]",
    )
    _require(
        dp.sum_std >= policy.dp_min_noise_std,
        f"noise std {dp.sum_std:.4g} on the sum is below this node's floor "
        f"{policy.dp_min_noise_std:g}",
    )
    _require(
        dp.share_std >= policy.dp_min_share_std,
        f"noise share std {dp.share_std:.4g} is below this node's floor "
        f"{policy.dp_min_share_std:g}",
    )
    # A codec clip below the update's bound plus 8 share deviations would cut the noise.
    _require(
        codec.clip >= dp.value_bound,
        f"codec clip {codec.clip} is below dp-clip + 8 noise-share deviations "
        f"({dp.value_bound:.4g}): the noise would be clipped",
    )
    check_dp_budget(ledger, dp.noise_multiplier, policy.max_epsilon, policy.dp_delta)
