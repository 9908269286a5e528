"""The roster of a secure round: who trained, under which chain key, in canonical bytes.

The server sends the same roster bytes with every chain and unmask message;
their digest is bound into every envelope, so clients that were shown
different rosters cannot open each other's envelopes. With an authenticated
roster each entry also names its federation member and carries that
member's signature of the chain key (``identity.py``).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .envelope import KEY_BYTES
from .errors import ProtocolError

_ID = struct.Struct(">Q")  # node ids are unsigned 64-bit in Flower

# A member name or signature is length-prefixed by one byte in the canonical bytes.
MAX_FIELD_BYTES = 255


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
    """Node id -> 32-byte X25519 chain key (and, authenticated, member name and signature)."""

    keys: Mapping[int, bytes]
    names: Mapping[int, str] = field(default_factory=dict)
    signatures: Mapping[int, bytes] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        keys: Mapping[int, bytes],
        names: Mapping[int, str] | None = None,
        signatures: Mapping[int, bytes] | None = None,
    ) -> Roster:
        """A roster in canonical (sorted) order; ``ProtocolError`` on a bad or repeated key."""
        if any(len(k) != KEY_BYTES for k in keys.values()):
            raise ProtocolError(f"Roster: every chain key must be {KEY_BYTES} bytes")
        if len(set(keys.values())) != len(keys):
            raise ProtocolError("Roster: two members share a chain key")
        names, signatures = dict(names or {}), dict(signatures or {})
        if any(len(v.encode()) > MAX_FIELD_BYTES for v in names.values()) or any(
            len(v) > MAX_FIELD_BYTES for v in signatures.values()
        ):
            raise ProtocolError("Roster: a member name or signature is too long")
        order = sorted(keys)
        return cls(
            {i: keys[i] for i in order},
            {i: names[i] for i in order if names.get(i)},
            {i: signatures[i] for i in order if signatures.get(i)},
        )

    def to_bytes(self) -> bytes:
        """Per member, sorted by node id: id (8), chain key (32), name and signature
        (length-prefixed)."""
        out = []
        for i, k in self.keys.items():
            name, sig = self.names.get(i, "").encode(), self.signatures.get(i, b"")
            out.append(_ID.pack(i) + k + bytes([len(name)]) + name + bytes([len(sig)]) + sig)
        return b"".join(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> Roster:
        """Parse and check (sorted, no repeats): ``ProtocolError`` otherwise."""
        keys, names, signatures = {}, {}, {}
        off = 0
        try:
            while off < len(data):
                node = _ID.unpack_from(data, off)[0]
                off += _ID.size
                key, off = data[off : off + KEY_BYTES], off + KEY_BYTES
                name, off = data[off + 1 : off + 1 + data[off]], off + 1 + data[off]
                sig, off = data[off + 1 : off + 1 + data[off]], off + 1 + data[off]
                if node in keys or off > len(data):
                    raise ProtocolError("Roster repeats a node or is truncated")
                keys[node], names[node], signatures[node] = key, name.decode(), sig
        except (struct.error, IndexError, UnicodeDecodeError) as exc:
            raise ProtocolError(f"Roster of {len(data)} bytes is malformed") from exc
        if not keys:
            raise ProtocolError("Roster is empty")
        roster = cls.of(keys, names, signatures)
        if roster.to_bytes() != data:
            raise ProtocolError("Roster is not in canonical order")
        return roster

    def digest(self) -> bytes:
        """SHA-256 of the canonical bytes, bound into every envelope of the round."""
        return hashlib.sha256(self.to_bytes()).digest()

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, node: object) -> bool:
        return node in self.keys
