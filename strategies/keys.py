"""Paillier keys: generation with a safe minimum size, and checks on received public keys."""

from __future__ import annotations

import hashlib
import json
import logging
from logging import WARNING
from pathlib import Path

import gmpy2
from phe import paillier

from .errors import InsecureKeyError
from .private_file import read_private, write_private

log = logging.getLogger(__name__).log

# NIST SP 800-57 Part 1 Rev. 5, Table 2: a 2048-bit factoring modulus gives
# 112-bit security (acceptable through 2030); 3072 bits gives 128-bit.
DEFAULT_KEY_BITS = 2048
MIN_KEY_BITS = 2048
STRONG_KEY_BITS = 3072
# Even a demo key must hold one codec slot per plaintext and be a key phe can make:
# below this, phe's prime search fails or the codec has no room.
MIN_DEMO_KEY_BITS = 256
# A received modulus above this is refused as oversized: 4x the default already
# costs ~50x per operation, and an absurd size would stall every client.
MAX_KEY_BITS = 8192
# Trial division bound for received moduli: a real RSA/Paillier modulus has
# no small prime factor, a corrupted or forged one usually does.
SMALL_PRIME_BOUND = 10_000

INSECURE_WARNING = (
    "INSECURE DEMO KEY: a %d-bit Paillier key can be factored; the server's "
    "privacy guarantee is void (insecure-demo-key = true). Never use this for real mail."
)


def check_key_size(bits: int, insecure_demo_key: bool) -> None:
    """Refuse a key size outside the policy; warn for a demo key.

    Raises
    ------
    InsecureKeyError
        Below ``MIN_KEY_BITS`` without ``insecure_demo_key``, below
        ``MIN_DEMO_KEY_BITS`` or above ``MAX_KEY_BITS`` in any case.
    """
    if not MIN_DEMO_KEY_BITS <= bits <= MAX_KEY_BITS:
        raise InsecureKeyError(
            f"Refusing a {bits}-bit Paillier key: expected {MIN_KEY_BITS} to {MAX_KEY_BITS} bits "
            f"(down to {MIN_DEMO_KEY_BITS} only with insecure-demo-key)"
        )
    if bits < MIN_KEY_BITS:
        if not insecure_demo_key:
            raise InsecureKeyError(
                f"Refusing a {bits}-bit Paillier key: the minimum is {MIN_KEY_BITS} bits. "
                "Set insecure-demo-key = true only to reproduce the book's demo."
            )
        log(WARNING, INSECURE_WARNING, bits)


def generate_keypair(
    bits: int = DEFAULT_KEY_BITS, insecure_demo_key: bool = False
) -> tuple[paillier.PaillierPublicKey, paillier.PaillierPrivateKey]:
    """A fresh Paillier keypair from ``phe``.

    Raises
    ------
    InsecureKeyError
        If ``bits < MIN_KEY_BITS`` and ``insecure_demo_key`` is not set.
    """
    check_key_size(bits, insecure_demo_key)
    return paillier.generate_paillier_keypair(n_length=bits)


def public_key_from_n(n: int, insecure_demo_key: bool = False) -> paillier.PaillierPublicKey:
    """Accept a modulus received from the server, after checking it looks like one.

    Raises
    ------
    InsecureKeyError
        If it is too small and ``insecure_demo_key`` is not set.
    ValueError
        If it cannot be a Paillier modulus (even, a square, a small factor).
    """
    if not isinstance(n, int) or n < 15:
        raise ValueError(f"Expected a Paillier modulus (int > 15), got {n!r}")
    if n.bit_length() > MAX_KEY_BITS:
        raise ValueError(
            f"Refusing an oversized {n.bit_length()}-bit Paillier modulus (maximum {MAX_KEY_BITS})"
        )
    check_key_size(n.bit_length(), insecure_demo_key)
    if n % 2 == 0 or gmpy2.is_square(n):
        raise ValueError(
            f"Not a Paillier modulus: a {n.bit_length()}-bit n that is even or a square"
        )
    p = gmpy2.mpz(3)
    while p < SMALL_PRIME_BOUND:
        if n % p == 0:
            raise ValueError(f"Not a Paillier modulus: n has the small factor {int(p)}")
        p = gmpy2.next_prime(p)
    return paillier.PaillierPublicKey(n)


def fingerprint(n: int) -> str:
    """Short hex identifier of a public key, bound into every envelope."""
    return hashlib.sha256(n.to_bytes((n.bit_length() + 7) // 8, "big")).hexdigest()[:32]


def n_to_bytes(n: int) -> bytes:
    """Big-endian bytes of the modulus, for a ConfigRecord (ints there are 64-bit)."""
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def n_from_bytes(data: bytes) -> int:
    """Inverse of ``n_to_bytes``."""
    return int.from_bytes(data, "big")


def save_keypair(path: Path, private_key: paillier.PaillierPrivateKey) -> None:
    """Persist a private key readable by its owner only (mode 0600), atomically.

    The file holds ``n``, ``p`` and ``q``: whoever reads it can decrypt every
    sum, so it is created 0600 before anything is written, and never logged.
    """
    n = private_key.public_key.n
    write_private(
        path, json.dumps({"n": str(n), "p": str(private_key.p), "q": str(private_key.q)}).encode()
    )


def load_keypair(
    path: Path, insecure_demo_key: bool = False
) -> tuple[paillier.PaillierPublicKey, paillier.PaillierPrivateKey]:
    """Load a key written by ``save_keypair``.

    Raises
    ------
    ValueError
        If the file is readable by group or others, malformed, or ``p q != n``.
    InsecureKeyError
        If the key is below the minimum size without the demo flag.
    """
    path = Path(path)
    data = read_private(path, "Paillier private key")
    try:
        values = json.loads(data)
        n, p, q = int(values["n"]), int(values["p"]), int(values["q"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a Paillier key file (expected JSON with n, p, q)") from exc
    check_key_size(n.bit_length(), insecure_demo_key)
    public_key = paillier.PaillierPublicKey(n)
    try:
        return public_key, paillier.PaillierPrivateKey(public_key, p, q)
    except ValueError as exc:
        raise ValueError(f"{path}: p and q do not match n") from exc
