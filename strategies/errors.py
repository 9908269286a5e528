"""Protocol failures that callers handle, and the error codes clients reply with."""

from __future__ import annotations

# Codes a ClientApp puts in its error reply, so the server can tell "my input
# was bad" from "I failed". The reply carries the code and its fixed reason
# below, nothing else: details (which could tell the server something about
# the client's data, such as its e-mail count) stay in the client's own log.
# Flower's own codes (flwr.common.constant.ErrorCode) are 0-8.
CODE_BAD_ENVELOPE = 4001
CODE_CONTRIBUTION_REJECTED = 4002
CODE_CHAIN_STATE_MISSING = 4003
CODE_NODE_MISCONFIGURED = 4004  # partition out of range, data missing or corrupt
CODE_REFUSED = 4005  # the request breaks the protocol (a deviating server)
CODE_CLIENT_FAILED = 4006  # anything else; the traceback is in the client's log

REASONS = {
    CODE_BAD_ENVELOPE: "the incoming envelope did not open or held invalid ciphertexts",
    CODE_CONTRIBUTION_REJECTED: "the client could not contribute its update",
    CODE_CHAIN_STATE_MISSING: "the client holds no contribution for this request",
    CODE_NODE_MISCONFIGURED: "the node is misconfigured (partition or data); see its log",
    CODE_REFUSED: "the client refused a request that breaks the protocol",
    CODE_CLIENT_FAILED: "the client failed; see its log",
}


class SecureAggregationError(Exception):
    """Base class of secure-aggregation protocol failures."""


class EnvelopeError(SecureAggregationError):
    """An envelope failed to open: tampered, truncated, replayed or misaddressed."""


class CiphertextError(SecureAggregationError):
    """A value that crossed a trust boundary is not a valid ciphertext for this key."""


class ContributionError(SecureAggregationError):
    """A client's own update cannot be contributed (NaN/inf, too many examples)."""


class ProtocolError(SecureAggregationError):
    """A request that an honest server never sends: the client refuses it."""


class RoundAbortedError(SecureAggregationError):
    """The secure round cannot finish safely; it is skipped."""


class NotEnoughContributorsError(SecureAggregationError):
    """Fewer than ``min-clients`` contributions: the sum is never decrypted."""


class AggregateCheckError(SecureAggregationError):
    """The decrypted total failed the contributor-count or guard-bit checks."""


class InsecureKeyError(SecureAggregationError, ValueError):
    """A Paillier key below the minimum size without the explicit demo flag."""
