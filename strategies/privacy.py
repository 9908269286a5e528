"""Differential privacy on top of secure aggregation: clipping, noise shares, accounting.

Client-level DP-FedAvg (McMahan et al., 2018, "Learning Differentially
Private Recurrent Language Models"): each client clips its update to L2 norm
``C`` and the average is taken with equal weights, so one client changes the
sum by at most ``C``. The Gaussian noise ``N(0, (z C)^2)`` is *distributed*:
each client adds a share ``N(0, (z C)^2 / m)`` before encrypting, with ``m``
= ``min-clients``. The server never decrypts a sum of fewer than ``m``
contributions, so the decrypted sum always carries noise of standard
deviation at least ``z C``, although nobody ever sees the noiseless sum.

Assumption, stated plainly: the guarantee holds against the curious server
as long as at least ``m`` contributors add their share honestly and keep it
secret. Dropouts cannot reduce the noise below target: every client that was
told the shares are sized for ``m`` accepts no sum of fewer. Clients
colluding with the server can subtract their own shares; the README states
what is left then.

Noise: each share is a discrete Gaussian on the codec's fixed-point grid
(Canonne, Kamath and Steinke, NeurIPS 2020), drawn by OpenDP's exact sampler
from its cryptographically secure generator. The sum of the shares is
within a negligible distance of a discrete Gaussian of the summed variance
at these scales (Kairouz, Liu and Steinke, ICML 2021: the distributed
discrete Gaussian), and a discrete Gaussian is at least as private as the
continuous one of the same variance for these integer sums.

Neighbouring relation: **replace one client's data**. The server sees which
clients took part, so "add or remove a client" is not what hides them; what
the noise hides is what a participant's update was. Replacing one clipped
update moves the sum by up to ``2 C``, so a round is a Gaussian mechanism of
noise multiplier ``z / 2``.

Accounting uses Google's ``dp-accounting`` (RDP accountant; maintained with
TensorFlow Privacy): one Gaussian event per round with the multiplier that
round actually used (every client takes part, so no sampling amplification
is claimed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from . import wire
from .codec import FRAC_BITS
from .errors import ProtocolError

# dp-accounting (1.3 s: scipy) and OpenDP (0.2 s) are imported where they are used: in a
# deployment every message starts a ClientApp process, and most never account or draw noise.

DEFAULT_DELTA = 1e-5
# The codec's per-value bound must leave the noise untouched: a share exceeds
# ``clip + TAIL_SIGMAS * share_std`` with probability ~1e-15 per value.
TAIL_SIGMAS = 8.0
# Each noise share is at least this many fixed-point steps wide. The sum of m discrete
# Gaussians of std s steps is a discrete Gaussian of variance m s^2 to within a distance
# tau <= 10 sum_{k<m} exp(-2 pi^2 s^2 k / (k + 1)) (Kairouz, Liu and Steinke, ICML 2021,
# Thm. 12): below 1e-16 per term at 2 steps, while a share of a fraction of a step is
# almost always 0 and adds no noise at all (review 4, F2).
MIN_SHARE_STEPS = 2.0
MAX_NOISE_MULTIPLIER = 1e3
NEIGHBOURING = "replace-one"
# The train-config keys of a round's DP settings.
DP_CLIP = "dp-clip"
DP_NOISE_MULTIPLIER = "dp-noise-multiplier"
DP_MIN_CLIENTS = "dp-min-clients"
# Replacing one client's update moves the sum by up to 2 * clip.
SENSITIVITY_IN_CLIPS = 2.0


@dataclass(frozen=True)
class DpSettings:
    """Client-level DP parameters of a run.

    Parameters
    ----------
    clip : float
        L2 bound ``C`` on each client's update.
    noise_multiplier : float
        ``z``: the decrypted sum carries ``N(0, (z C)^2)`` per value.
    min_clients : int
        ``m``: shares are sized so that any ``m`` of them give the full noise.
    delta : float
        The ``delta`` of (epsilon, delta)-DP.
    """

    clip: float
    noise_multiplier: float
    min_clients: int
    delta: float = DEFAULT_DELTA

    def __post_init__(self) -> None:
        if not (0 < self.clip < math.inf and 0 < self.noise_multiplier <= MAX_NOISE_MULTIPLIER):
            raise ValueError(
                f"Expected a finite dp-clip > 0 and a noise multiplier in (0, "
                f"{MAX_NOISE_MULTIPLIER:g}], got {self}"
            )
        if not 0 < self.delta < 1 or self.min_clients < 1:
            raise ValueError(f"Expected 0 < dp-delta < 1 and min-clients >= 1, got {self}")

    @property
    def sum_std(self) -> float:
        """Noise standard deviation per value on the decrypted sum: ``z C``."""
        return self.noise_multiplier * self.clip

    @property
    def share_std(self) -> float:
        """Each client's share: ``z C / sqrt(m)``."""
        return self.sum_std / np.sqrt(self.min_clients)

    @property
    def value_bound(self) -> float:
        """Per-value codec bound that clipped update plus share stays within."""
        return self.clip + TAIL_SIGMAS * self.share_std

    def update_bound(self, num_weights: int) -> float:
        """The L2 norm a client clips its update to before rounding it to the codec's grid:
        ``dp-clip`` less what rounding can add, so that the rounded update is within
        ``dp-clip``, the sensitivity the accounting assumes."""
        return self.clip - rounding_slack(num_weights)

    def check_grid(self, num_weights: int) -> None:
        """Refuse settings the codec's fixed-point grid cannot carry as accounted.

        Raises
        ------
        ValueError
            If a noise share is below ``MIN_SHARE_STEPS`` grid steps (it would round to
            almost nothing), or ``dp-clip`` is below twice what rounding an update of
            ``num_weights`` values can add to its L2 norm (rounding would then decide it).
        """
        steps = self.share_std * 2**FRAC_BITS
        if steps < MIN_SHARE_STEPS:
            raise ValueError(
                f"a noise share of std {self.share_std:.3g} is {steps:.3g} steps of the codec's "
                f"grid 2^-{FRAC_BITS}, expected at least {MIN_SHARE_STEPS:g}: raise dp-clip or "
                "the noise multiplier"
            )
        if self.clip < 2 * rounding_slack(num_weights):
            slack = rounding_slack(num_weights)
            raise ValueError(
                f"dp-clip {self.clip:.3g} is within twice what rounding {num_weights} values "
                f"to the codec's grid adds to an update's L2 norm ({slack:.3g})"
            )

    def train_config(self) -> dict[str, float | int]:
        """What each client needs to clip and draw its share (train-config keys)."""
        return {
            DP_CLIP: self.clip,
            DP_NOISE_MULTIPLIER: self.noise_multiplier,
            DP_MIN_CLIENTS: self.min_clients,
        }

    @classmethod
    def from_config(cls, config: Mapping[str, object]) -> DpSettings | None:
        """The DP settings of a training request's config (``None``: no ``dp-clip``, no DP),
        with typed reads.

        Raises
        ------
        ProtocolError
            If a setting is missing, of the wrong kind or out of range.
        """
        if wire.read_float(config, DP_CLIP, 0.0) == 0:
            return None
        try:
            return cls(
                wire.read_float(config, DP_CLIP),
                wire.read_float(config, DP_NOISE_MULTIPLIER),
                wire.read_int(config, DP_MIN_CLIENTS),
            )
        except ValueError as exc:
            raise ProtocolError(f"differential privacy settings: {exc}") from exc

    def epsilon(self, rounds: int) -> float:
        """Epsilon at ``delta`` after ``rounds`` rounds of this noise (0 for 0 rounds)."""
        return epsilon_after(self.noise_multiplier, rounds, self.delta)


def epsilon_of(noise_multipliers: Sequence[float], delta: float) -> float:
    """RDP epsilon after one round per multiplier, under replace-one neighbours."""
    if not noise_multipliers:
        return 0.0
    import dp_accounting
    from dp_accounting import rdp

    accountant = rdp.RdpAccountant()
    for z in noise_multipliers:
        accountant.compose(dp_accounting.GaussianDpEvent(z / SENSITIVITY_IN_CLIPS))
    return float(accountant.get_epsilon(delta))


def epsilon_after(noise_multiplier: float, rounds: int, delta: float) -> float:
    """Epsilon after ``rounds`` rounds of the same noise multiplier."""
    return epsilon_of([noise_multiplier] * max(rounds, 0), delta)


def noise_multiplier_for(target_epsilon: float, rounds: int, delta: float) -> float:
    """Smallest noise multiplier (to 0.1%) whose epsilon after ``rounds`` is <= the target.

    Raises
    ------
    ValueError
        If the target is not positive or needs more noise than ``MAX_NOISE_MULTIPLIER``.
    """
    if not target_epsilon > 0:
        raise ValueError(f"Expected target-epsilon > 0, got {target_epsilon}")
    if epsilon_after(MAX_NOISE_MULTIPLIER, rounds, delta) > target_epsilon:
        raise ValueError(
            f"target-epsilon {target_epsilon} over {rounds} rounds needs a noise multiplier "
            f"> {MAX_NOISE_MULTIPLIER}"
        )
    low, high = 0.0, MAX_NOISE_MULTIPLIER
    while high - low > 1e-3 * high:
        mid = (low + high) / 2
        if mid > 0 and epsilon_after(mid, rounds, delta) <= target_epsilon:
            high = mid
        else:
            low = mid
    return high


def rounds_within(
    target_epsilon: float,
    noise_multiplier: float,
    delta: float,
    planned: int,
    spent: Sequence[float] = (),
) -> int:
    """How many of the ``planned`` rounds fit the budget (stop before exceeding it).

    ``spent`` holds the multipliers of rounds already run (a resumed run), so
    they count with the noise they really had.
    """
    rounds = len(spent)
    while (
        rounds < planned
        and epsilon_of([*spent, *[noise_multiplier] * (rounds + 1 - len(spent))], delta)
        <= target_epsilon
    ):
        rounds += 1
    return rounds


def rounding_slack(num_weights: int) -> float:
    """The most rounding ``num_weights`` values to the codec's grid adds to their L2 norm:
    half a step each, ``sqrt(num_weights) * 2^-(FRAC_BITS + 1)``."""
    return math.sqrt(num_weights) * 2.0 ** -(FRAC_BITS + 1)


def clip_l2(delta: np.ndarray, clip: float) -> np.ndarray:
    """``delta`` scaled down to L2 norm ``clip`` if it is longer; NaN and infinite values
    count as 0 (a NaN norm would otherwise leave every value unclipped)."""
    delta = np.where(np.isfinite(delta), delta, 0.0)
    norm = float(np.linalg.norm(delta))
    return delta * min(1.0, clip / norm) if norm > 0 else delta


def grid_noise(size: int, share_std: float) -> np.ndarray:
    """One client's noise share: ``size`` discrete Gaussians of std ``share_std``
    on the codec's fixed-point grid ``2^-FRAC_BITS``, as int64 grid steps.

    OpenDP's exact discrete Gaussian sampler, fed by its cryptographically
    secure generator; nothing here uses numpy's generator.
    """
    import opendp.prelude as opendp

    opendp.enable_features("contrib")
    scale = share_std * 2.0**FRAC_BITS
    measurement = opendp.m.make_gaussian(
        opendp.vector_domain(opendp.atom_domain(T="i64"), size=size),
        opendp.l2_distance(T="i64"),
        scale=scale,
    )
    return np.asarray(measurement([0] * size), dtype=np.int64)
