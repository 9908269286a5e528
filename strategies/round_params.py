"""One round's public parameters: what every contributor of a sum must share, and its digest.

Everything that shapes an update, its encoding or its noise is one parameter
set: the Paillier key, the codec (key size, weights, clip, ``max-examples``;
the fraction bits are a constant), the differential-privacy settings (``dp-clip``,
noise multiplier, the ``m`` shares are sized for) and the model (the global
weights, the request's training settings and ``rounds-before``, and the
run-config as the client reads it, as ``model_digest``). A server that sent
different clients different values could make one client's update stand out
of a sum: scaled above the others, the others shrunk to nothing (a tiny clip,
a tiny ``dp-clip``, a shard of one e-mail through ``num-clients``), or a
weight (the bias) trained by one client only (issue 21).

So each client checks the set against its own node config before it touches
its data (``clients/params_guard.py``), and binds its digest into the
associated data of every envelope it seals or opens and into its pairwise mask
seeds. Two clients given different sets cannot open each other's envelopes,
and their masks do not cancel; the tree of a round is connected, so every
contributor of a decrypted sum used the same set. All but the model is fixed
for the run (``run_digest``): a client refuses a set that changes it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from . import wire
from .codec import FRAC_BITS, GUARD_BITS, HEADER_SLOTS, LOSS_BOUND, CodecParams
from .privacy import DpSettings

VERSION = "fl-spam round parameters v1"
DIGEST_BYTES = 32
# The training settings a request must name: they shape the update, so each is bound.
TRAINING_SETTINGS = ("lr", "local-epochs", "batch-size")


def training_settings(config: Mapping[str, object]) -> tuple[float, int, int]:
    """``lr``, ``local-epochs`` and ``batch-size`` of a training request, with typed reads.

    Raises
    ------
    ProtocolError
        If one is missing or of the wrong kind: a client never fills in a value
        of its own, which could differ from another client's.
    """
    return (
        wire.read_float(config, "lr"),
        wire.read_int(config, "local-epochs"),
        wire.read_int(config, "batch-size"),
    )


def model_digest(
    parameters: Sequence[np.ndarray],
    config: Mapping[str, object],
    run_config: Mapping[str, object] | None = None,
) -> bytes:
    """SHA-256 of the global weights (``-0.0`` as ``0.0``), the training settings as used,
    ``rounds-before`` (it seeds the shuffles), and the ``run_config`` as the client reads it
    (its data, shard, recipe: a server may give each node another run-config).

    Raises
    ------
    ProtocolError
        If a training setting is missing or of the wrong kind.
    """
    digest = hashlib.sha256()
    for array in parameters:
        digest.update(np.ascontiguousarray(np.asarray(array, dtype=np.float64) + 0.0).tobytes())
    digest.update(repr(training_settings(config)).encode())
    digest.update(repr(wire.read_int(config, "rounds-before", 0)).encode())
    digest.update(repr(sorted((run_config or {}).items())).encode())
    return digest.digest()


@dataclass(frozen=True)
class RoundParams:
    """The public parameters of one round, as one client uses them.

    Parameters
    ----------
    n : int
        The server's Paillier modulus.
    codec : CodecParams
        The encoding (its ``key_bits`` is ``bitlen(n)``).
    dp : DpSettings, optional
        Differential privacy: ``dp-clip``, the noise multiplier and ``m``.
    model : bytes
        ``model_digest`` of the global weights, training settings and run-config.
    """

    n: int
    codec: CodecParams
    dp: DpSettings | None = None
    model: bytes = b""

    def _fields(self) -> dict[str, object]:
        """Everything fixed for the run, floats as exact hex: the same bytes on every client."""
        dp = self.dp
        return {
            "version": VERSION,
            "paillier": hex(self.n),
            "key-bits": self.codec.key_bits,
            "num-weights": self.codec.num_weights,
            "clip": float(self.codec.clip).hex(),
            "max-examples": self.codec.max_examples,
            "codec": [FRAC_BITS, GUARD_BITS, HEADER_SLOTS, float(LOSS_BOUND).hex()],
            "dp": None
            if dp is None
            else [float(dp.clip).hex(), float(dp.noise_multiplier).hex(), dp.min_clients],
        }

    def run_digest(self) -> bytes:
        """SHA-256 of the part fixed for the run: all but the model."""
        canonical = json.dumps(self._fields(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).digest()

    def digest(self) -> bytes:
        """SHA-256 of the whole set, bound into every envelope and mask seed of the round."""
        return hashlib.sha256(self.run_digest() + self.model).digest()
