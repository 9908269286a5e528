"""Pairwise and self masks mod n: what makes a running sum over fewer than all clients noise.

Client ``i`` of roster ``R`` adds to its plaintexts, homomorphically,

    M_i[t] = b_i[t] + sum_{j in R, j != i} sign(i, j) * PRG(s_ij, t)      (mod n)

with ``sign(i, j) = +1`` if ``i < j`` else ``-1``, ``s_ij`` the pairwise seed
that ``i`` and ``j`` both derive (X25519 + HKDF-SHA256, bound to run, round,
the pair and the round's public parameters, so that clients given different
parameters hold masks that do not cancel), and ``b_i`` a self mask from a
seed only ``i`` ever holds.
Over the clients ``S`` of the pass the pairwise terms within ``S`` cancel;
each survivor then sends its correction

    C_i[t] = -b_i[t] - sum_{d in R \\ S} sign(i, d) * PRG(s_id, t)         (mod n)

and the corrected total is the plain sum. The self mask is SecAgg's answer
to the dropout trap (Bonawitz et al., CCS 2017): a correction mixes ``b_i``
with the pairwise terms, so a client that is declared dropped while its
contribution sits in some sum still hides behind its own ``b``, which it
reveals only as a survivor, never both.

PRG: the ChaCha20 keystream of ``cryptography`` keyed by the seed; each
value takes ``bitlen(n) + 64`` bits reduced mod ``n`` (statistical distance
from uniform below 2^-64, NIST SP 800-90A's "extra bits" method). Nothing
here uses numpy's generator.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SEED_BYTES = 32
EXTRA_BITS = 64  # bias of the reduction mod n is below 2^-EXTRA_BITS
HKDF_INFO = b"fl-spam pairwise mask v2"
_NONCE = bytes(16)  # each seed keys exactly one keystream


def new_seed() -> bytes:
    """A fresh self-mask seed from the OS's CSPRNG."""
    return secrets.token_bytes(SEED_BYTES)


def pairwise_seed(
    my_private_key: bytes,
    my_id: int,
    their_key: bytes,
    their_id: int,
    run_id: int | str,
    server_round: int,
    params_digest: bytes,
) -> bytes:
    """``s_ij``: the same 32 bytes on both sides of the pair, for this run, round and
    parameter set only."""
    shared = X25519PrivateKey.from_private_bytes(my_private_key).exchange(
        X25519PublicKey.from_public_bytes(their_key)
    )
    low, high = sorted([my_id, their_id])
    info = (
        HKDF_INFO
        + f"|run={run_id}|round={server_round}|pair={low},{high}".encode()
        + f"|params={params_digest.hex()}".encode()
    )
    return HKDF(algorithm=hashes.SHA256(), length=SEED_BYTES, salt=None, info=info).derive(shared)


def expand(seed: bytes, n: int, count: int) -> list[int]:
    """``count`` values uniform mod ``n`` (to 2^-64) from the ChaCha20 keystream of ``seed``."""
    width = (n.bit_length() + EXTRA_BITS + 7) // 8
    stream = (
        Cipher(algorithms.ChaCha20(seed, _NONCE), mode=None)
        .encryptor()
        .update(bytes(width * count))
    )
    return [
        int.from_bytes(stream[i : i + width], "big") % n for i in range(0, width * count, width)
    ]


def _signed_sum(
    seeds: Iterable[tuple[int, bytes]], my_id: int, n: int, count: int, sign: int
) -> list[int]:
    total = [0] * count
    for other, seed in seeds:
        s = sign if my_id < other else -sign
        total = [(a + s * v) for a, v in zip(total, expand(seed, n, count), strict=True)]
    return [v % n for v in total]


def mask(
    self_seed: bytes, pair_seeds: dict[int, bytes], my_id: int, n: int, count: int
) -> list[int]:
    """``M_i``: self mask plus the signed pairwise masks with every other roster member."""
    pairwise = _signed_sum(pair_seeds.items(), my_id, n, count, +1)
    return [(b + p) % n for b, p in zip(expand(self_seed, n, count), pairwise, strict=True)]


def correction(
    self_seed: bytes,
    pair_seeds: dict[int, bytes],
    my_id: int,
    dropped: Sequence[int],
    n: int,
    count: int,
) -> list[int]:
    """``C_i``: removes this client's self mask and its pairwise masks with ``dropped``."""
    pairwise = _signed_sum(((d, pair_seeds[d]) for d in dropped), my_id, n, count, -1)
    return [(p - b) % n for b, p in zip(expand(self_seed, n, count), pairwise, strict=True)]
