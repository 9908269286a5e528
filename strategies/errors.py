"""Protocol failures that callers handle, and the error codes clients reply with."""

from __future__ import annotations

# Codes a ClientApp puts in its error reply, so the server can tell "my input
# was bad" (blame the sender) from "I failed" (route around me). Flower's own
# codes (flwr.common.constant.ErrorCode) are 0-8.
CODE_BAD_ENVELOPE = 4001
CODE_CONTRIBUTION_REJECTED = 4002
CODE_CHAIN_STATE_MISSING = 4003
CODE_NODE_MISCONFIGURED = 4004  # partition out of range, data missing or corrupt


class SecureAggregationError(Exception):
    """Base class of secure-aggregation protocol failures."""


class EnvelopeError(SecureAggregationError):
    """An envelope failed to open: tampered, truncated, replayed or misaddressed."""


class CiphertextError(SecureAggregationError):
    """A value that crossed a trust boundary is not a valid ciphertext for this key."""


class ContributionError(SecureAggregationError):
    """A client's own update cannot be contributed (NaN/inf, too many examples)."""


class NotEnoughContributorsError(SecureAggregationError):
    """Fewer than ``min-clients`` contributions: the sum is never decrypted."""


class AggregateCheckError(SecureAggregationError):
    """The decrypted total failed the contributor-count or guard-bit checks."""


class InsecureKeyError(SecureAggregationError, ValueError):
    """A Paillier key below the minimum size without the explicit demo flag."""
