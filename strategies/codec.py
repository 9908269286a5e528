"""Fixed-point packing of model updates into Paillier plaintexts.

A client's update ``delta`` (new weights - global weights) becomes, per weight,

    q = round(clip(delta, -C, C) * 2^F)          in [-Q, Q],  Q = round(C * 2^F)
    e = n_i * (q + Q)                            in [0, 2 n_i Q]

with ``n_i`` the client's number of training e-mails. Weighting by ``n_i``
inside the encryption makes the decrypted sum the numerator of weighted
FedAvg; the offset ``n_i Q`` makes every slot non-negative, and the server
removes ``Q * sum(n_i)`` after decryption. Four header slots carry ``1``
(contributor count), ``n_i``, the client's training loss and its number of
clipped values, so the server learns only the number of contributors, their
total examples, their example-weighted mean loss and their total clipped
values: nothing about one client travels in clear.

A slot must hold the sum over all clients: ``sum(e) <= 2 Q T`` where ``T``
(``max-examples``) is a public bound on the round's total training e-mails.
So ``slot_bits = bitlen(2 Q T) + GUARD_BITS``, whatever the number of
clients, and ``(key_bits - 1) // slot_bits`` slots fit below ``n``. After
decryption every slot must be ``<= 2 Q sum(n_i)``: a larger value means
overflow (a contribution encoded out of range) and is refused.

Error bound: quantisation moves each ``delta`` by at most ``2^-(F+1)``; the
weighted mean of those errors is a mean, so the decrypted FedAvg update is
within ``2^-(F+1)`` (9.5e-7 for F = 19) of the exact one, for any number of
clients and any shard sizes, before float64 rounding (~1e-16 relative).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from . import wire
from .errors import AggregateCheckError, ContributionError, ProtocolError

# 2^-(19+1) = 9.5e-7: the promised "decrypted mean within 1e-6 of FedAvg",
# with no bit more than needed (every bit here costs slots, see README). A protocol
# constant, not a parameter: a server that could set it per client could scale one
# client's values above the others' sum and read them from the total (issue 21).
FRAC_BITS = 19
# Detects a slot sum up to 2^GUARD_BITS times its legitimate maximum before
# it can carry into the next slot. Honest clients cannot overflow (encode
# bounds every value), so one bit suffices to catch a misbehaving one.
GUARD_BITS = 1
# Largest |delta| a client may contribute per round; larger values are clipped
# (and counted). Measured: |delta| <= 4.8 per round with the default recipe on
# the SMS corpus, 3 to 10 clients (|delta| <= 0.48 with the book's settings).
DEFAULT_CLIP = 8.0
# Public bound on the total training e-mails of a round, all clients together.
# With the default clip, 16,000 keeps 2 Q T below 2^37, so a slot is 38 bits
# and 53 fit a 2048-bit key; the SMS corpus trains on 4,459, Enron-Spam needs
# ~32,000 (one bit more per slot).
DEFAULT_MAX_EXAMPLES = 16_000
# Header slots: contributor count, example count, loss, clipped values.
HEADER_SLOTS = 4
# Every intermediate of ``encode`` is an int64: a slot's largest legitimate value
# 2 Q T, a value plus noise (up to 5 Q, see ``encode``). Parameters whose 2 Q T
# reaches this are refused before any data is encoded, so no data can wrap them.
MAX_SLOT_VALUE = 2**60
# A client's mean training loss is clipped to [0, LOSS_BOUND] and carried as
# n_i * round(loss / LOSS_BOUND * 2Q), so its slot sum, like a weight's, is at
# most 2 Q T (resolution LOSS_BOUND / 2Q = 1.5e-5 with the defaults). The
# book's MSE is at most 1 per e-mail; BCE above 16 means training diverged.
LOSS_BOUND = 16.0


@dataclass(frozen=True)
class CodecParams:
    """Public parameters of one round's encoding, sent by the server to every client.

    Parameters
    ----------
    key_bits : int
        Bit length of the Paillier modulus ``n``.
    num_weights : int
        Number of model weights (flattened).
    clip : float
        Bound ``C`` on ``|delta|``.
    max_examples : int
        Bound ``T`` on the round's total example count.

    Raises
    ------
    ValueError
        If a size is below 1, ``clip`` is below one fixed-point step or not
        finite, ``2 Q T`` reaches ``MAX_SLOT_VALUE`` (int64 arithmetic could
        wrap), or a slot does not fit the key.
    """

    key_bits: int
    num_weights: int
    clip: float = DEFAULT_CLIP
    max_examples: int = DEFAULT_MAX_EXAMPLES

    def __post_init__(self) -> None:
        if self.num_weights < 1 or self.max_examples < 1 or self.key_bits < 2:
            raise ValueError(f"Expected positive sizes, got {self}")
        if not (math.isfinite(self.clip) and self.clip * 2**FRAC_BITS >= 1):
            raise ValueError(f"Expected a finite clip >= 2^-{FRAC_BITS}, got {self.clip}")
        if self.slot_max >= MAX_SLOT_VALUE:
            raise ValueError(
                f"clip {self.clip} x max-examples {self.max_examples} is too large: a slot "
                f"would reach 2^{self.slot_max.bit_length() - 1} (the limit is 2^60)"
            )
        if self.slots_per_plaintext < 1:
            raise ValueError(f"A {self.slot_bits}-bit slot does not fit a {self.key_bits}-bit key")

    @property
    def q_max(self) -> int:
        """``Q``: the clip bound in fixed point."""
        return round(self.clip * 2**FRAC_BITS)

    @property
    def slot_max(self) -> int:
        """Largest legitimate slot value of a sum: ``2 Q T``."""
        return 2 * self.q_max * self.max_examples

    @property
    def slot_bits(self) -> int:
        """Bits per slot: the largest legitimate sum plus guard bits."""
        return self.slot_max.bit_length() + GUARD_BITS

    @property
    def slots_per_plaintext(self) -> int:
        """Slots in one plaintext; their packed value stays below ``2^(key_bits-1) <= n``."""
        return (self.key_bits - 1) // self.slot_bits

    @property
    def num_plaintexts(self) -> int:
        """Plaintexts (so ciphertexts) per contribution."""
        return -(-(self.num_weights + HEADER_SLOTS) // self.slots_per_plaintext)

    @property
    def error_bound(self) -> float:
        """Worst-case |decoded weighted mean - exact weighted mean| from quantisation."""
        return 2.0 ** -(FRAC_BITS + 1)

    def to_config(self) -> dict[str, int | float]:
        """As ConfigRecord values (keys with hyphens)."""
        return {k.replace("_", "-"): v for k, v in asdict(self).items()}

    @classmethod
    def from_config(cls, values: Mapping[str, object]) -> CodecParams:
        """Inverse of ``to_config``, with typed reads (a value of the wrong kind is refused,
        never converted).

        Raises
        ------
        ProtocolError
            If a key is missing, of the wrong kind, or the values are unusable.
        """
        try:
            return cls(
                key_bits=wire.read_int(values, "key-bits"),
                num_weights=wire.read_int(values, "num-weights"),
                clip=wire.read_float(values, "clip"),
                max_examples=wire.read_int(values, "max-examples"),
            )
        except ValueError as exc:
            raise ProtocolError(f"codec parameters: {exc}") from exc


def _pack(slots: np.ndarray, params: CodecParams) -> list[int]:
    per, width = params.slots_per_plaintext, params.slot_bits
    padded = np.zeros(params.num_plaintexts * per, dtype=object)
    padded[: slots.size] = slots.astype(object)
    plaintexts = []
    for chunk in padded.reshape(-1, per):
        m = 0
        for value in chunk[::-1]:
            m = (m << width) | int(value)
        plaintexts.append(m)
    return plaintexts


def unpack(plaintexts: list[int], params: CodecParams) -> list[int]:
    """The slots of decrypted plaintexts, headers first, without any check of their values.

    Raises
    ------
    AggregateCheckError
        If a plaintext has bits above its last slot or a padding slot is not zero.
    """
    per, width = params.slots_per_plaintext, params.slot_bits
    mask = (1 << width) - 1
    slots = []
    for m in plaintexts:
        for _ in range(per):
            slots.append(m & mask)
            m >>= width
        if m:
            raise AggregateCheckError("Decrypted plaintext has bits above its last slot")
    used = params.num_weights + HEADER_SLOTS
    if any(slots[used:]):
        raise AggregateCheckError("Decrypted padding slots are not zero: the total is corrupted")
    return slots[:used]


def flatten_update(new: Sequence[np.ndarray], old: Sequence[np.ndarray]) -> np.ndarray:
    """An update ``new - old`` as the one float64 vector ``encode`` takes, arrays in order.

    Raises
    ------
    ValueError
        If the two lists do not hold arrays of the same shapes.
    """
    if [np.shape(a) for a in new] != [np.shape(b) for b in old]:
        raise ValueError(
            f"Expected arrays of shapes {[np.shape(b) for b in old]}, "
            f"got {[np.shape(a) for a in new]}"
        )
    return np.concatenate(
        [
            np.asarray(a, np.float64).ravel() - np.asarray(b, np.float64).ravel()
            for a, b in zip(new, old, strict=True)
        ]
    )


def unflatten_update(arrays: Sequence[np.ndarray], delta: np.ndarray) -> list[np.ndarray]:
    """``arrays`` plus a flat update ``delta``: the inverse of ``flatten_update``, each
    result in its array's shape and dtype.

    Raises
    ------
    ValueError
        If ``delta`` does not hold one value per weight.
    """
    sizes = [np.size(a) for a in arrays]
    if np.size(delta) != sum(sizes):
        raise ValueError(f"Expected an update of {sum(sizes)} values, got {np.size(delta)}")
    parts = np.split(np.asarray(delta, np.float64).ravel(), np.cumsum(sizes)[:-1])
    return [
        (np.asarray(a, np.float64) + part.reshape(np.shape(a))).astype(np.asarray(a).dtype)
        for a, part in zip(arrays, parts, strict=True)
    ]


def quantize(delta: np.ndarray, params: CodecParams) -> tuple[np.ndarray, int]:
    """``round(delta * 2^F)`` as int64, within ``[-2Q, 2Q]`` (not yet clipped to ``[-Q, Q]``),
    and how many values were NaN/inf (they become 0).

    Raises
    ------
    ContributionError
        If ``delta`` has the wrong size.
    """
    delta = np.asarray(delta, dtype=np.float64).ravel()
    if delta.size != params.num_weights:
        raise ContributionError(
            f"Expected an update of {params.num_weights} values, got {delta.size}"
        )
    finite = np.isfinite(delta)
    # Anything beyond 2C is clipped anyway; bounding it first keeps int64 exact.
    bounded = np.clip(np.where(finite, delta, 0.0), -2 * params.clip, 2 * params.clip)
    return np.rint(bounded * 2.0**FRAC_BITS).astype(np.int64), int((~finite).sum())


def encode(
    delta: np.ndarray,
    num_examples: int,
    params: CodecParams,
    loss: float = 0.0,
    noise: np.ndarray | None = None,
) -> tuple[list[int], int]:
    """One client's plaintexts, and how many values were clipped.

    Nothing about the client's own data makes it fail or wrap (a failure the
    server sees would be an oracle on that data): NaN/inf values encode as 0
    and count as clipped, the weight ``num_examples`` is capped at
    ``max_examples``, a non-finite loss is clipped too, and every int64
    intermediate stays below ``5 Q < 2^63`` (``CodecParams`` bounds ``2 Q T``).

    Parameters
    ----------
    delta : np.ndarray
        The update, one float per weight.
    num_examples : int
        The client's training e-mails ``n_i`` (1 under differential privacy).
    params : CodecParams
        The round's public codec parameters.
    loss : float
        The client's mean training loss, carried encrypted in a header slot.
    noise : np.ndarray, optional
        Integer noise on the fixed-point grid (differential privacy), added
        before clipping to ``[-Q, Q]``.

    Raises
    ------
    ContributionError
        If ``delta`` has the wrong size or ``num_examples`` is below 1.
    """
    q, non_finite = quantize(delta, params)
    if noise is not None:
        # |q| <= 2Q, so any noise beyond 3Q ends at the same +-Q after clipping below: cutting
        # it first changes nothing and keeps the sum far from int64's limit.
        bound = 3 * params.q_max
        q = q + np.clip(np.asarray(noise, dtype=np.int64), -bound, bound)
    if num_examples < 1:
        raise ContributionError(f"{num_examples} training e-mails: expected at least 1")
    num_examples = min(num_examples, params.max_examples)
    clipped = int((np.abs(q) > params.q_max).sum()) + non_finite
    q = np.clip(q, -params.q_max, params.q_max)
    weights = (q + params.q_max) * num_examples  # <= 2 Q T < MAX_SLOT_VALUE
    loss = float(np.nan_to_num(loss, nan=0.0, posinf=LOSS_BOUND, neginf=0.0))
    loss_q = round(min(max(loss, 0.0), LOSS_BOUND) / LOSS_BOUND * 2 * params.q_max)
    header = [1, num_examples, num_examples * loss_q, min(clipped, 2 * params.q_max)]
    slots = np.concatenate([header, weights]).astype(np.int64)
    return _pack(slots, params), clipped


@dataclass(frozen=True)
class Aggregate:
    """What the server learns from a decrypted total."""

    mean_delta: np.ndarray
    contributors: int
    examples: int
    mean_loss: float  # example-weighted mean of the clients' training losses
    clipped: int  # values clipped, all clients together


def decode(
    plaintexts: list[int],
    expected_contributors: int,
    params: CodecParams,
    one_example_each: bool = False,
) -> Aggregate:
    """The weighted mean update from a decrypted total.

    Parameters
    ----------
    one_example_each : bool
        Differential privacy: every client weighs 1, so the example count must
        equal the contributor count (a client claiming more would take the
        model over and shrink the noise on the mean).

    Raises
    ------
    AggregateCheckError
        If the contributor-count slot differs from ``expected_contributors``,
        the example count is out of range, or any slot exceeds its legitimate
        maximum (overflow caught by the guard bits).
    """
    if len(plaintexts) != params.num_plaintexts:
        raise AggregateCheckError(
            f"Expected {params.num_plaintexts} plaintexts, got {len(plaintexts)}"
        )
    slots = unpack(plaintexts, params)
    count, examples, loss_sum, clipped = slots[:HEADER_SLOTS]
    if count != expected_contributors:
        raise AggregateCheckError(
            f"Contributor-count slot says {count}, expected {expected_contributors}: "
            "a contribution is missing, duplicated, or under another key"
        )
    if not count <= examples <= params.max_examples:
        raise AggregateCheckError(
            f"Example-count slot says {examples} e-mails from {count} contributors, expected "
            f"{count}..max-examples ({params.max_examples}); raise max-examples if the data grew"
        )
    if one_example_each and examples != count:
        raise AggregateCheckError(
            f"Example-count slot says {examples} from {count} contributors; under differential "
            "privacy each client counts once"
        )
    legit_max = 2 * params.q_max * examples
    if loss_sum > legit_max or clipped > 2 * params.q_max * count:
        raise AggregateCheckError("Loss or clipped-count slot exceeds its maximum: overflow")
    weights = np.array(slots[HEADER_SLOTS:], dtype=object)
    over = int((weights > legit_max).sum())
    if over:
        raise AggregateCheckError(
            f"{over} slot(s) exceed the maximum {legit_max} for {examples} e-mails: overflow "
            "caught by the guard bits (a contribution was encoded out of range)"
        )
    numerator = (weights - params.q_max * examples).astype(np.float64)
    mean = numerator / (float(examples) * 2.0**FRAC_BITS)
    mean_loss = loss_sum * LOSS_BOUND / (2 * params.q_max * examples)
    return Aggregate(
        mean_delta=mean,
        contributors=count,
        examples=examples,
        mean_loss=float(mean_loss),
        clipped=int(clipped),
    )
