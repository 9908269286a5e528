"""The client side of the Paillier chain: contribute, then add-and-forward.

Functions of plain values (the ClientApp keeps them between messages in
``context.state``), so every step is testable without Flower.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from strategies import envelope, paillier_math
from strategies.codec import CodecParams, encode
from strategies.errors import EnvelopeError
from strategies.keys import fingerprint, public_key_from_n
from strategies.parallel import WORKERS


@dataclass(frozen=True)
class Contribution:
    """A client's encrypted update for one round, kept until the chain reaches it."""

    server_round: int
    n: int
    params: CodecParams
    ciphertexts: list[int]
    clipped: int


def contribute(
    server_round: int, delta: np.ndarray, num_examples: int, n: int, params: CodecParams,
    insecure_demo_key: bool = False,
) -> Contribution:
    """Encode and encrypt an update under the server's key.

    Raises
    ------
    ContributionError
        For NaN/inf values or an example count out of range (see ``codec.encode``).
    InsecureKeyError, ValueError
        If ``n`` is too small or not a plausible Paillier modulus.
    """
    public_key_from_n(n, insecure_demo_key)
    plaintexts, clipped = encode(delta, num_examples, params)
    obfuscators = WORKERS.obfuscators(n, len(plaintexts))
    WORKERS.prefetch(n, len(plaintexts))  # next round's, computed while we wait for the chain
    return Contribution(server_round, n, params, paillier_math.encrypt_many(n, plaintexts, obfuscators), clipped)


def add_own(
    mine: Contribution, incoming: bytes, my_private_key: bytes, run_id: int | str, in_step: int,
) -> list[int]:
    """Open the envelope from the previous hop (if any) and add this client's ciphertexts.

    Raises
    ------
    EnvelopeError
        If the envelope does not open for this client, run, round and step.
    CiphertextError
        If it holds the wrong number of ciphertexts or an invalid one.
    """
    if not incoming:
        return list(mine.ciphertexts)
    me = envelope.public_key_of(my_private_key)
    aad = envelope.associated_data(run_id, mine.server_round, in_step, me, fingerprint(mine.n))
    payload = envelope.open_envelope(incoming, my_private_key, aad)
    previous = paillier_math.from_bytes(
        mine.n, payload, mine.params.num_plaintexts, source=f"envelope of step {in_step}"
    )
    return paillier_math.add(mine.n, previous, mine.ciphertexts)


def forward(
    running: list[int], mine: Contribution, next_key: bytes, run_id: int | str, out_step: int,
) -> bytes:
    """Seal the running sum for the next hop."""
    if not next_key:
        raise EnvelopeError("No next hop to seal for")
    aad = envelope.associated_data(run_id, mine.server_round, out_step, next_key, fingerprint(mine.n))
    return envelope.seal(paillier_math.to_bytes(mine.n, running), next_key, aad)
