"""What a node accepts, from its own node config: floors and bounds no server message can change.

Every bound has a safe default that a node may tighten, never loosen: the
defaults are the widest values the codec's int64 arithmetic and the noise
sampler handle (``strategies.codec.MAX_SLOT_VALUE``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from strategies import wire
from strategies.errors import ProtocolError
from strategies.identity import MemberIdentity, load_federation, load_identity_key
from strategies.privacy import DEFAULT_DELTA
from strategies.wire import (
    NODE_ALLOW_PLAIN,
    NODE_DP_DELTA,
    NODE_DP_MAX_CLIP,
    NODE_DP_MIN_CLIP,
    NODE_DP_MIN_NOISE_STD,
    NODE_DP_MIN_SHARE_STD,
    NODE_FEDERATION_FILE,
    NODE_IDENTITY_KEY,
    NODE_INSECURE_DEMO_KEY,
    NODE_MAX_CLIP,
    NODE_MAX_EPSILON,
    NODE_MAX_EXAMPLES,
    NODE_MEMBER,
    NODE_MIN_CLIENTS,
    NODE_MIN_NOISE_MULTIPLIER,
)

# A node that says nothing in its node config accepts no sum of fewer than
# this many clients (the run-config's default min-clients).
DEFAULT_NODE_MIN_CLIENTS = 3
ABSOLUTE_MIN_CLIENTS = 2  # the "sum" of one update is the update
# The widest codec a node accepts: 2 Q T = 2 * (2^16 * 2^19) * 2^20 = 2^56, below the
# codec's int64 limit 2^60 with room; Enron-Spam needs max-examples 32,000, and a DP
# value bound (dp-clip + 8 share deviations) of 65,536 is far beyond any useful noise.
MAX_CLIP = float(2**16)
MAX_EXAMPLES = 2**20


@dataclass(frozen=True)
class ClientPolicy:
    """What this node accepts, from its own node config; the server cannot change it.

    Parameters
    ----------
    min_clients : int
        Fewest clients in any roster, pass or survivor set it takes part in.
    insecure_demo_key : bool
        Accept Paillier keys below 2048 bits (the book's demo).
    min_noise_multiplier : float
        Under differential privacy, the least noise multiplier ``z`` it accepts.
    identity : MemberIdentity, optional
        Its federation identity: then it accepts authenticated rosters only.
    max_epsilon : float
        Under differential privacy, this client's own budget for the run (0: none).
    dp_delta : float
        The delta its own budget is counted at.
    allow_plain : bool
        Answer plain training and evaluation, whose replies carry its weights
        and metrics in clear (off unless the node config says so).
    max_clip : float
        The largest codec ``clip`` it encodes with.
    max_examples : int
        The largest ``max-examples`` it encodes with.
    dp_min_clip, dp_max_clip : float
        The range of ``dp-clip`` it accepts (its update's L2 bound).
    dp_min_noise_std : float
        The least noise standard deviation ``z C`` on the decrypted sum.
    dp_min_share_std : float
        The least standard deviation ``z C / sqrt(m)`` of its own noise share.
    """

    min_clients: int = DEFAULT_NODE_MIN_CLIENTS
    insecure_demo_key: bool = False
    min_noise_multiplier: float = 0.0
    identity: MemberIdentity | None = None
    max_epsilon: float = 0.0
    dp_delta: float = DEFAULT_DELTA
    allow_plain: bool = False
    max_clip: float = MAX_CLIP
    max_examples: int = MAX_EXAMPLES
    dp_min_clip: float = 0.0
    dp_max_clip: float = MAX_CLIP
    dp_min_noise_std: float = 0.0
    dp_min_share_std: float = 0.0

    def __post_init__(self) -> None:
        if self.min_clients < ABSOLUTE_MIN_CLIENTS:
            raise ValueError(
                f"node-config min-clients = {self.min_clients}: expected >= {ABSOLUTE_MIN_CLIENTS}"
            )
        if not 0 < self.max_clip <= MAX_CLIP:
            raise ValueError(
                f"node-config {NODE_MAX_CLIP} = {self.max_clip}: expected a number in "
                f"(0, {MAX_CLIP:g}]"
            )
        if not 1 <= self.max_examples <= MAX_EXAMPLES:
            raise ValueError(
                f"node-config {NODE_MAX_EXAMPLES} = {self.max_examples}: expected an integer "
                f"from 1 to {MAX_EXAMPLES}"
            )
        if not self.dp_min_clip <= self.dp_max_clip <= MAX_CLIP:
            raise ValueError(
                f"node-config {NODE_DP_MIN_CLIP} = {self.dp_min_clip}, {NODE_DP_MAX_CLIP} = "
                f"{self.dp_max_clip}: expected {NODE_DP_MIN_CLIP} <= {NODE_DP_MAX_CLIP} <= "
                f"{MAX_CLIP:g}"
            )

    @property
    def requires_dp(self) -> bool:
        """A noise floor or a budget: it takes part in differentially private rounds only."""
        return (
            self.min_noise_multiplier > 0
            or self.max_epsilon > 0
            or self.dp_min_noise_std > 0
            or self.dp_min_share_std > 0
        )

    @property
    def distrusts_server(self) -> bool:
        """An authenticated roster or a DP requirement: then it takes part in secure rounds
        only, whatever ``allow_plain`` says."""
        return self.identity is not None or self.requires_dp

    @property
    def answers_plain(self) -> bool:
        """Whether it answers plain training and evaluation at all."""
        return self.allow_plain and not self.distrusts_server

    @classmethod
    def from_node_config(
        cls, node_config: Mapping[str, object], allow_plain_by_default: bool = False
    ) -> ClientPolicy:
        """Read the node's floors and bounds (see the README's node-config table).

        ``allow_plain_by_default`` is the ``allow-plain`` of a node config that
        does not name it: ``True`` only in Flower's simulation, where nodes
        have no node config of their own and one user runs server and nodes.

        Raises
        ------
        ValueError
            Naming the key, for a value it cannot use or an incomplete identity.
        """
        identity_keys = [NODE_FEDERATION_FILE, NODE_MEMBER, NODE_IDENTITY_KEY]
        given = [k for k in identity_keys if node_config.get(k)]
        identity = None
        if given and len(given) < len(identity_keys):
            raise ValueError(
                f"node-config {', '.join(given)} without "
                f"{', '.join(set(identity_keys) - set(given))}: "
                "an authenticated roster needs all three"
            )
        if given:
            federation = load_federation(Path(str(node_config[NODE_FEDERATION_FILE])))
            member = str(node_config[NODE_MEMBER])
            if member not in federation:
                raise ValueError(f"node-config member = {member!r} is not in the federation file")
            identity = MemberIdentity(
                member, load_identity_key(Path(str(node_config[NODE_IDENTITY_KEY]))), federation
            )
        floats = {
            NODE_MIN_NOISE_MULTIPLIER: 0.0,
            NODE_MAX_EPSILON: 0.0,
            NODE_DP_DELTA: DEFAULT_DELTA,
            NODE_MAX_CLIP: MAX_CLIP,
            NODE_DP_MIN_CLIP: 0.0,
            NODE_DP_MAX_CLIP: MAX_CLIP,
            NODE_DP_MIN_NOISE_STD: 0.0,
            NODE_DP_MIN_SHARE_STD: 0.0,
        }
        try:
            values = {key: wire.read_float(node_config, key, d) for key, d in floats.items()}
            min_clients = wire.read_int(node_config, NODE_MIN_CLIENTS, DEFAULT_NODE_MIN_CLIENTS)
            max_examples = wire.read_int(node_config, NODE_MAX_EXAMPLES, MAX_EXAMPLES)
        except ProtocolError as exc:  # the operator's own setting, not the server's
            raise ValueError(f"node-config: {exc}") from exc
        # NaN compares false with everything: "dp-min-noise-multiplier=nan" would switch
        # the floor off instead of refusing (review F8).
        for key, value in values.items():
            if not (math.isfinite(value) and value >= 0) or (key == NODE_DP_DELTA and value >= 1):
                raise ValueError(
                    f"node-config {key} = {value}: expected a finite number >= 0 (below 1 for "
                    f"{NODE_DP_DELTA})"
                )
        return cls(
            min_clients=min_clients,
            insecure_demo_key=_flag(node_config, NODE_INSECURE_DEMO_KEY, False),
            min_noise_multiplier=values[NODE_MIN_NOISE_MULTIPLIER],
            identity=identity,
            max_epsilon=values[NODE_MAX_EPSILON],
            dp_delta=values[NODE_DP_DELTA],
            allow_plain=_flag(node_config, NODE_ALLOW_PLAIN, allow_plain_by_default),
            max_clip=values[NODE_MAX_CLIP],
            max_examples=max_examples,
            dp_min_clip=values[NODE_DP_MIN_CLIP],
            dp_max_clip=values[NODE_DP_MAX_CLIP],
            dp_min_noise_std=values[NODE_DP_MIN_NOISE_STD],
            dp_min_share_std=values[NODE_DP_MIN_SHARE_STD],
        )


def _flag(node_config: Mapping[str, object], key: str, default: bool) -> bool:
    """A true/false node-config value (``--node-config "key=true"`` gives the string).

    Raises
    ------
    ValueError
        For anything but true or false, naming the key.
    """
    value = node_config.get(key, default)
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise ValueError(f"node-config {key} = {value!r}: expected true or false")
