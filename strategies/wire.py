"""What crosses the wire in a secure round: message types, stages, record and field names.

Server and clients import these names from here, so the protocol is written
down once. The content of every message is one ``ConfigRecord`` under
``RECORD``; its fields are listed per stage below.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from flwr.app import ArrayRecord, ConfigRecord, RecordDict

from .errors import ProtocolError

T = TypeVar("T", int, float, bytes, str)
R = TypeVar("R", ConfigRecord, ArrayRecord)

# Message types: the ClientApp registers @app.train() and @app.train("chain"),
# @app.train("unmask").
TRAIN = "train"
CHAIN = "train.chain"
UNMASK = "train.unmask"

# The Paillier public key and codec parameters, sent with the training message.
PAILLIER_RECORD = "paillier"
N = "n"
# The record of the chain and unmask stages, and of the train reply.
RECORD = "secure"

# Fields (all in RECORD).
ROUND = "round"
ACTION = "action"  # ADD or RESEAL, in CHAIN messages
ROSTER = "roster"  # canonical bytes, see roster.Roster
ENVELOPES = (
    "envelopes"  # the sealed sums a node adds to its own (its children's), in CHAIN messages
)
IN_STEPS = "in-steps"  # the step each of ENVELOPES was sealed at
SENDERS = "senders"  # the node id that sealed each of ENVELOPES
ENVELOPE = "envelope"  # the sealed sum in a CHAIN reply
OUT_STEP = "out-step"
NEXT = "next"  # node id of the next hop (the parent), 0: none (the root: returns the total)
TOTAL = "total"
CONTRIBUTORS = "contributors"  # node ids, 8 bytes each, in the order they added
SURVIVORS = "survivors"  # node ids, 8 bytes each: in UNMASK messages and the root's CHAIN message
CORRECTION = "correction"
CHAIN_KEY = "chain-key"  # the client's X25519 public key (fresh per run)
SIGNATURE = "signature"  # Ed25519 signature of the chain key (authenticated roster)
MEMBER = "member"  # the member name the signature is checked under

ADD = "add"
RESEAL = "reseal"

# Node-config keys: a client's own floors, which no server message can lower.
NODE_MIN_CLIENTS = "min-clients"
NODE_INSECURE_DEMO_KEY = "insecure-demo-key"
NODE_MIN_NOISE_MULTIPLIER = "dp-min-noise-multiplier"
NODE_MAX_EPSILON = "dp-max-epsilon"
NODE_DP_DELTA = "dp-delta"
NODE_FEDERATION_FILE = "federation-file"
NODE_MEMBER = "member"
NODE_IDENTITY_KEY = "identity-key"
# Answer plain training and evaluation (replies in clear): off unless the node says so.
NODE_ALLOW_PLAIN = "allow-plain"
# Bounds on a round's public parameters (clients/node_policy.py): a node may tighten them.
NODE_MAX_CLIP = "max-clip"
NODE_MAX_EXAMPLES = "max-examples"
NODE_DP_MIN_CLIP = "dp-min-clip"
NODE_DP_MAX_CLIP = "dp-max-clip"
NODE_DP_MIN_NOISE_STD = "dp-min-noise-std"
NODE_DP_MIN_SHARE_STD = "dp-min-share-std"
# Memory for obfuscators computed ahead of need, in MiB (default: parallel.DEFAULT_MAX_AHEAD_BYTES).
NODE_PRECOMPUTE_MB = "precompute-mb"
# The node's own data: when set, the run must name the same (a server cannot point it elsewhere).
NODE_CORPUS = "corpus"
NODE_DATA_PATH = "data-path"


# ------------------------------------------------------------------ typed reads
# Every value in a record another party sent is read through these: a value of the
# wrong kind is a ProtocolError naming the field, never a conversion that happens to
# work (``bytes(5)`` is five zero bytes, ``int(True)`` is 1).
_MISSING = object()


def _value(fields: Mapping[str, object], key: str, default: object) -> object:
    value = fields.get(key, default)
    if value is _MISSING:
        raise ProtocolError(f"field {key!r} is missing")
    return value


def _wrong(key: str, expected: str, value: object) -> ProtocolError:
    return ProtocolError(f"field {key!r}: expected {expected}, got {type(value).__name__}")


def _read(
    fields: Mapping[str, object],
    key: str,
    default: object,
    kind: type[T] | tuple[type[T], ...],
    what: str,
) -> T:
    """``fields[key]`` if it is a ``kind`` (one of them, for a tuple) and not a bool; else a
    ProtocolError saying ``what`` was expected."""
    value = _value(fields, key, default)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise _wrong(key, what, value)
    return value


def read_int(fields: Mapping[str, object], key: str, default: int | object = _MISSING) -> int:
    """``fields[key]`` as an int (a bool is not one); ``default`` when absent, if given."""
    return _read(fields, key, default, int, "an integer")


def read_float(fields: Mapping[str, object], key: str, default: float | object = _MISSING) -> float:
    """``fields[key]`` as a float (an int is accepted, a bool is not)."""
    return float(_read(fields, key, default, (int, float), "a number"))


def read_bytes(fields: Mapping[str, object], key: str, default: bytes | object = _MISSING) -> bytes:
    """``fields[key]`` as bytes."""
    return _read(fields, key, default, bytes, "bytes")


def read_str(fields: Mapping[str, object], key: str, default: str | object = _MISSING) -> str:
    """``fields[key]`` as a str."""
    return _read(fields, key, default, str, "a string")


def read_list(fields: Mapping[str, object], key: str, kind: type[T]) -> list[T]:
    """``fields[key]`` as a list of ``kind`` (absent: empty)."""
    value = fields.get(key, [])
    if not isinstance(value, list) or not all(
        isinstance(v, kind) and not isinstance(v, bool) for v in value
    ):
        raise _wrong(key, f"a list of {kind.__name__}", value)
    return value


def read_record(content: RecordDict, key: str, kind: type[R]) -> R:
    """The record of type ``kind`` (``ConfigRecord``, ``ArrayRecord``) under ``key`` of a
    message's content."""
    record = content.get(key)
    if not isinstance(record, kind):
        raise ProtocolError(f"record {key!r}: expected a {kind.__name__}")
    return record
