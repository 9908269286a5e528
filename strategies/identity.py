"""The authenticated roster: long-term Ed25519 identities, pinned in a federation file.

Each mail owner has an identity key (kept 0600 on its own machine) and the
federation file, which everybody holds the same copy of, pins every member's
public identity key by name::

    [members]
    alice = "3b6a27bc...(64 hex digits)"
    bob = "..."

A client signs its chain key for the run with its identity key; every client
checks every roster entry against the file. A server that invents a member
or substitutes a chain key is then refused: it has no member's identity key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from .errors import ProtocolError
from .private_file import read_private, write_private

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
MAX_NAME_BYTES = 64


def _chain_key_statement(run_id: int | str, member: str, chain_key: bytes) -> bytes:
    return (
        b"fl-spam chain key v1|run="
        + str(run_id).encode()
        + b"|member="
        + member.encode()
        + b"|"
        + chain_key
    )


@dataclass(frozen=True)
class MemberIdentity:
    """This node's name in the federation, its identity key, and every member's pinned
    public key."""

    member: str
    signing_key: Ed25519PrivateKey
    federation: Mapping[str, bytes]

    def sign_chain_key(self, run_id: int | str, chain_key: bytes) -> bytes:
        """The signature that binds this run's chain key to this member."""
        return self.signing_key.sign(_chain_key_statement(run_id, self.member, chain_key))

    def verify_chain_key(
        self, run_id: int | str, member: str, chain_key: bytes, signature: bytes
    ) -> None:
        """Check one roster entry against the federation file.

        Raises
        ------
        ProtocolError
            If ``member`` is not in the federation file or the signature is not its.
        """
        pinned = self.federation.get(member)
        if pinned is None:
            raise ProtocolError(f"roster member {member!r} is not in the federation file")
        try:
            Ed25519PublicKey.from_public_bytes(pinned).verify(
                signature, _chain_key_statement(run_id, member, chain_key)
            )
        except InvalidSignature as exc:
            raise ProtocolError(
                f"the chain key of roster member {member!r} is not signed by its identity key"
            ) from exc


def new_identity_key(path: Path) -> bytes:
    """Create an identity key at ``path`` (0600); its public key, 32 bytes.

    Raises
    ------
    FileExistsError
        If ``path`` exists: an identity is never overwritten.
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path}: an identity key is already there; it is never overwritten")
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    write_private(path, raw.hex().encode() + b"\n")
    return public_bytes(key)


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    """The raw 32-byte public key of an identity key."""
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_identity_key(path: Path) -> Ed25519PrivateKey:
    """Read an identity key written by ``new_identity_key``; ``ValueError`` naming the file
    if malformed."""
    data = read_private(Path(path), "identity key")
    try:
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(data.decode().strip()))
    except ValueError as exc:
        raise ValueError(f"{path}: not an identity key (expected 64 hex digits)") from exc


def load_federation(path: Path) -> dict[str, bytes]:
    """The ``[members]`` table of a federation file: name -> 32-byte public key.

    Raises
    ------
    ValueError
        Naming the file and the entry, if it is not TOML, has no members, or
        a key is not 64 hex digits.
    """
    path = Path(path)
    try:
        table = tomllib.loads(path.read_text()).get("members")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a TOML federation file: {exc}") from exc
    if not isinstance(table, dict) or not table:
        raise ValueError(
            f'{path}: expected a [members] table with name = "<hex public key>" entries'
        )
    members = {}
    for name, value in table.items():
        try:
            key = bytes.fromhex(str(value))
        except ValueError:
            key = b""
        if len(key) != PUBLIC_KEY_BYTES or len(name.encode()) > MAX_NAME_BYTES:
            raise ValueError(
                f"{path}: member {name!r}: expected a name of at most {MAX_NAME_BYTES} bytes and "
                f"{2 * PUBLIC_KEY_BYTES} hex digits"
            )
        members[name] = key
    if len(set(members.values())) != len(members):
        raise ValueError(f"{path}: two members share an identity key")
    return members
