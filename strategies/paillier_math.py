"""Paillier number theory: the only module that does arithmetic mod n^2.

Keys and decryption come from ``phe`` (which decrypts with CRT); this module
adds what ``phe`` does not offer for packed plaintexts: encryption with an
obfuscator ``r^n mod n^2`` computed ahead, homomorphic addition of raw
ciphertexts, and validation of every ciphertext that crosses a trust
boundary (``phe.raw_decrypt`` accepts any int).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import gmpy2

from .errors import CiphertextError


def random_obfuscator(n: int) -> int:
    """``r^n mod n^2`` for a uniformly random unit ``r`` in ``[1, n)``.

    It does not depend on the plaintext, so it can be computed ahead of time.
    """
    n_mpz = gmpy2.mpz(n)
    while True:
        r = secrets.randbelow(n - 1) + 1
        if gmpy2.gcd(r, n_mpz) == 1:  # fails only if r reveals a factor of n
            return int(gmpy2.powmod(r, n_mpz, n_mpz * n_mpz))


def encrypt(n: int, plaintext: int, obfuscator: int) -> int:
    """Paillier encryption with ``g = n + 1``: ``(1 + m n) * r^n mod n^2``.

    Raises
    ------
    ValueError
        If the plaintext is not in ``[0, n)``.
    """
    if not 0 <= plaintext < n:
        raise ValueError(
            f"Expected a plaintext in [0, n), got one of {plaintext.bit_length()} bits"
        )
    n_sq = gmpy2.mpz(n) * n
    return int(gmpy2.f_mod((1 + gmpy2.mpz(plaintext) * n) * obfuscator, n_sq))


def add(n: int, left: Sequence[int], right: Sequence[int]) -> list[int]:
    """Homomorphic addition, element-wise: ``E(a) * E(b) = E(a + b) mod n^2``."""
    if len(left) != len(right):
        raise CiphertextError(f"Expected {len(left)} ciphertexts to add, got {len(right)}")
    n_sq = gmpy2.mpz(n) * n
    return [int(gmpy2.f_mod(gmpy2.mpz(a) * b, n_sq)) for a, b in zip(left, right, strict=True)]


def add_plain(n: int, ciphertexts: Sequence[int], values: Sequence[int]) -> list[int]:
    """``E(m) * (1 + v n) = E(m + v) mod n^2``, element-wise: a mask or a correction.

    One multiplication per ciphertext and no exponentiation: with ``g = n + 1``
    adding a known value needs no fresh randomness, and the sum stays as
    hidden as the ciphertext was.
    """
    if len(ciphertexts) != len(values):
        raise CiphertextError(f"Expected {len(ciphertexts)} values to add, got {len(values)}")
    n_mpz = gmpy2.mpz(n)
    n_sq = n_mpz * n_mpz
    return [
        int(gmpy2.f_mod(gmpy2.mpz(c) * (1 + gmpy2.f_mod(v, n_mpz) * n_mpz), n_sq))
        for c, v in zip(ciphertexts, values, strict=True)
    ]


def validate(n: int, ciphertexts: Sequence[int], source: str) -> None:
    """Check ``0 < c < n^2`` and ``gcd(c, n) = 1`` for every ciphertext.

    Parameters
    ----------
    n : int
        Paillier modulus.
    ciphertexts : Sequence[int]
        Values received from another party.
    source : str
        Who sent them, for the error message.

    Raises
    ------
    CiphertextError
        Naming ``source``, the index and the problem.
    """
    n_sq = n * n
    for i, c in enumerate(ciphertexts):
        if not isinstance(c, int):
            raise CiphertextError(f"{source}: ciphertext {i} is a {type(c).__name__}, expected int")
        if c <= 0:
            raise CiphertextError(f"{source}: ciphertext {i} is {c}, expected 0 < c < n^2")
        if c >= n_sq:
            raise CiphertextError(
                f"{source}: ciphertext {i} is >= n^2 ({c.bit_length()} bits for a "
                f"{n.bit_length()}-bit key): not under this key"
            )
        if gmpy2.gcd(c, n) != 1:
            raise CiphertextError(
                f"{source}: ciphertext {i} is not a unit mod n^2 (gcd with n is not 1)"
            )


def ciphertext_width(n: int) -> int:
    """Bytes of one serialised ciphertext (values are < n^2)."""
    return ((n * n).bit_length() + 7) // 8


def to_bytes(n: int, ciphertexts: Sequence[int]) -> bytes:
    """Fixed-width big-endian serialisation."""
    width = ciphertext_width(n)
    return b"".join(int(c).to_bytes(width, "big") for c in ciphertexts)


def from_bytes(n: int, data: bytes, count: int, source: str) -> list[int]:
    """Parse ``count`` ciphertexts and validate them (see ``validate``)."""
    width = ciphertext_width(n)
    if len(data) != width * count:
        raise CiphertextError(
            f"{source}: expected {count} ciphertexts of {width} bytes ({width * count} bytes), "
            f"got {len(data)} bytes"
        )
    values = [int.from_bytes(data[i : i + width], "big") for i in range(0, len(data), width)]
    validate(n, values, source)
    return values


def values_to_bytes(n: int, values: Sequence[int]) -> bytes:
    """Plaintext-space values (``0 <= v < n``), fixed width, big-endian."""
    width = (n.bit_length() + 7) // 8
    return b"".join(int(v).to_bytes(width, "big") for v in values)


def values_from_bytes(n: int, data: bytes, count: int, source: str) -> list[int]:
    """Inverse of ``values_to_bytes``; ``CiphertextError`` if the size is off or a value
    is ``>= n``."""
    width = (n.bit_length() + 7) // 8
    if len(data) != width * count:
        raise CiphertextError(
            f"{source}: expected {count} values of {width} bytes, got {len(data)} bytes"
        )
    values = [int.from_bytes(data[i : i + width], "big") for i in range(0, len(data), width)]
    if any(v >= n for v in values):
        raise CiphertextError(f"{source}: a value is >= n")
    return values


def encrypt_many(
    n: int, plaintexts: Sequence[int], obfuscators: Sequence[int] | None = None
) -> list[int]:
    """Encrypt each plaintext with its own fresh obfuscator (computed here if not given).

    Raises
    ------
    ValueError
        If the number of obfuscators differs from the number of plaintexts.
    """
    if obfuscators is None:
        obfuscators = [random_obfuscator(n) for _ in plaintexts]
    if len(obfuscators) != len(plaintexts):
        raise ValueError(f"Expected {len(plaintexts)} obfuscators, got {len(obfuscators)}")
    return [encrypt(n, m, r) for m, r in zip(plaintexts, obfuscators, strict=True)]
