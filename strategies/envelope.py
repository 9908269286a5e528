"""Sealed envelopes for the tree: X25519 + HKDF-SHA256 + ChaCha20-Poly1305, sender-authenticated.

The server relays the partial encrypted sums from client to client; sealing
each for its recipient means the server never holds a ciphertext it could
decrypt other than the final total. The key comes from two X25519 exchanges,
as in HPKE's Auth mode (RFC 9180, ``AuthEncap``): a fresh ephemeral key with
the recipient's chain key, and the sender's chain key with the recipient's,
all three public keys in the key schedule. So only the recipient opens it,
and it opens only as coming from the sender the recipient expects: the
server cannot forge an envelope, nor pass one off as another client's. The
run, round, step, recipient and sender are bound into the associated data,
with the digest of the round's roster and of its public parameters
(``round_params``): an envelope replayed into another run, round or step,
delivered to another client, or sent along a tree whose members were shown
another roster or other parameters, does not open.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import EnvelopeError

VERSION = b"\x02"
KEY_BYTES = 32
NONCE_BYTES = 12  # ChaCha20-Poly1305 (RFC 8439)
TAG_BYTES = 16
HEADER_BYTES = len(VERSION) + KEY_BYTES + NONCE_BYTES
HKDF_INFO = b"fl-spam envelope v2 (auth)"


def new_private_key() -> bytes:
    """A fresh X25519 private key, as 32 raw bytes (to keep in ``context.state``)."""
    return X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def public_key_of(private_key: bytes) -> bytes:
    """The 32-byte public key of a raw private key."""
    return _raw_public(X25519PrivateKey.from_private_bytes(private_key).public_key())


def _raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def associated_data(
    run_id: int | str,
    server_round: int,
    step: int,
    recipient: bytes,
    paillier_id: str,
    roster_digest: bytes,
    sender: bytes,
    params_digest: bytes,
) -> bytes:
    """What an envelope is bound to: run, round, step, recipient, sender, Paillier key,
    roster and the round's public parameters."""
    return b"|".join(
        [
            b"fl-spam/tree/v3",
            f"run={run_id}".encode(),
            f"round={server_round}".encode(),
            f"step={step}".encode(),
            b"to=" + recipient.hex().encode(),
            b"from=" + sender.hex().encode(),
            f"paillier={paillier_id}".encode(),
            b"roster=" + roster_digest.hex().encode(),
            b"params=" + params_digest.hex().encode(),
        ]
    )


def _key(shared: bytes, ephemeral: bytes, recipient: bytes, sender: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient + sender, info=HKDF_INFO
    ).derive(shared)


def _public(key: bytes) -> X25519PublicKey:
    if len(key) != KEY_BYTES:
        raise EnvelopeError(f"Expected a {KEY_BYTES}-byte X25519 public key, got {len(key)} bytes")
    return X25519PublicKey.from_public_bytes(key)


def seal(payload: bytes, recipient: bytes, aad: bytes, sender_private_key: bytes) -> bytes:
    """Encrypt ``payload`` for the holder of ``recipient``'s private key, as the holder of
    ``sender_private_key``.

    Raises
    ------
    EnvelopeError
        If ``recipient`` is not a 32-byte X25519 public key.
    """
    to = _public(recipient)
    me = X25519PrivateKey.from_private_bytes(sender_private_key)
    ephemeral = X25519PrivateKey.generate()
    ephemeral_pub = _raw_public(ephemeral.public_key())
    shared = ephemeral.exchange(to) + me.exchange(to)
    nonce = os.urandom(NONCE_BYTES)
    key = _key(shared, ephemeral_pub, recipient, _raw_public(me.public_key()))
    return VERSION + ephemeral_pub + nonce + ChaCha20Poly1305(key).encrypt(nonce, payload, aad)


def open_envelope(envelope: bytes, private_key: bytes, aad: bytes, sender: bytes) -> bytes:
    """Decrypt an envelope sealed for ``private_key`` by the holder of ``sender``'s private
    key, with the same ``aad``.

    Raises
    ------
    EnvelopeError
        If it is truncated, of another version, tampered with, replayed into
        another run/round/step, sealed for someone else or by someone else.
    """
    if len(envelope) < HEADER_BYTES + TAG_BYTES:
        raise EnvelopeError(
            f"Envelope truncated: {len(envelope)} bytes, "
            f"expected at least {HEADER_BYTES + TAG_BYTES}"
        )
    if envelope[:1] != VERSION:
        raise EnvelopeError(
            f"Unknown envelope version {envelope[:1].hex()}, expected {VERSION.hex()}"
        )
    ephemeral_pub = envelope[1 : 1 + KEY_BYTES]
    nonce = envelope[1 + KEY_BYTES : HEADER_BYTES]
    me = X25519PrivateKey.from_private_bytes(private_key)
    recipient = _raw_public(me.public_key())
    try:
        shared = me.exchange(X25519PublicKey.from_public_bytes(ephemeral_pub)) + me.exchange(
            _public(sender)
        )
        return ChaCha20Poly1305(_key(shared, ephemeral_pub, recipient, sender)).decrypt(
            nonce, envelope[HEADER_BYTES:], aad
        )
    except (InvalidTag, ValueError) as exc:
        raise EnvelopeError(
            "Envelope failed authentication: tampered with, truncated, replayed from another "
            "run/round/step, sealed for another client or by another than its sender"
        ) from exc
