"""The roster of a secure round: who trained, under which chain key, in canonical bytes.

The server sends the same roster bytes with every chain and unmask message;
their digest is bound into every envelope, so clients that were shown
different rosters cannot open each other's envelopes.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .envelope import KEY_BYTES
from .errors import ProtocolError

_ID = struct.Struct(">Q")  # node ids are unsigned 64-bit in Flower
_ENTRY = _ID.size + KEY_BYTES


def ids_to_bytes(node_ids: Iterable[int]) -> bytes:
    """Node ids as 8 big-endian bytes each, in order."""
    return b"".join(_ID.pack(i) for i in node_ids)


def ids_from_bytes(data: bytes, what: str) -> list[int]:
    """Inverse of ``ids_to_bytes``; ``ProtocolError`` if malformed or repeated."""
    if len(data) % _ID.size:
        raise ProtocolError(f"{what}: {len(data)} bytes is not a list of node ids")
    ids = [_ID.unpack_from(data, i)[0] for i in range(0, len(data), _ID.size)]
    if len(set(ids)) != len(ids):
        raise ProtocolError(f"{what}: a node id appears twice")
    return ids


@dataclass(frozen=True)
class Roster:
    """Node id -> 32-byte X25519 chain key, for every client that trained this round."""

    keys: Mapping[int, bytes]

    @classmethod
    def of(cls, keys: Mapping[int, bytes]) -> Roster:
        """A roster in canonical (sorted) order; ``ProtocolError`` on a bad or repeated key."""
        if any(len(k) != KEY_BYTES for k in keys.values()):
            raise ProtocolError(f"Roster: every chain key must be {KEY_BYTES} bytes")
        if len(set(keys.values())) != len(keys):
            raise ProtocolError("Roster: two members share a chain key")
        return cls(dict(sorted(keys.items())))

    def to_bytes(self) -> bytes:
        """8-byte node id + 32-byte key per member, sorted by node id."""
        return b"".join(_ID.pack(i) + k for i, k in self.keys.items())

    @classmethod
    def from_bytes(cls, data: bytes) -> Roster:
        """Parse and check (sorted, no repeats): ``ProtocolError`` otherwise."""
        if not data or len(data) % _ENTRY:
            raise ProtocolError(f"Roster of {len(data)} bytes is malformed")
        keys = {}
        for off in range(0, len(data), _ENTRY):
            node = _ID.unpack_from(data, off)[0]
            keys[node] = data[off + _ID.size : off + _ENTRY]
        roster = cls.of(keys)
        if roster.to_bytes() != data:
            raise ProtocolError("Roster is not in canonical order or repeats a node")
        return roster

    def digest(self) -> bytes:
        """SHA-256 of the canonical bytes, bound into every envelope of the round."""
        return hashlib.sha256(self.to_bytes()).digest()

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, node: object) -> bool:
        return node in self.keys
