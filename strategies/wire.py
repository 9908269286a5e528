"""What crosses the wire in a secure round: message types, stages, record and field names.

Server and clients import these names from here, so the protocol is written
down once. The content of every message is one ``ConfigRecord`` under
``RECORD``; its fields are listed per stage below.
"""

from __future__ import annotations

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
# Memory for obfuscators computed ahead of need, in MiB (default: parallel.DEFAULT_MAX_AHEAD_BYTES).
NODE_PRECOMPUTE_MB = "precompute-mb"
# The node's own data: when set, the run must name the same (a server cannot point it elsewhere).
NODE_CORPUS = "corpus"
NODE_DATA_PATH = "data-path"
