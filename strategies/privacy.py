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
secret. Dropouts cannot reduce the noise below target (fewer than ``m`` are
never decrypted); clients colluding with the server could subtract their
own shares, which is outside the threat model (no server-client collusion).

Accounting uses Google's ``dp-accounting`` (RDP accountant; maintained with
TensorFlow Privacy): one Gaussian event with noise multiplier ``z`` per round
(every client takes part, so no sampling amplification is claimed).
"""

from __future__ import annotations

from dataclasses import dataclass

import dp_accounting
import numpy as np
from dp_accounting import rdp

DEFAULT_DELTA = 1e-5
# The codec's per-value bound must leave the noise untouched: a share exceeds
# ``clip + TAIL_SIGMAS * share_std`` with probability ~1e-15 per value.
TAIL_SIGMAS = 8.0
MAX_NOISE_MULTIPLIER = 1e3


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
        if not self.clip > 0 or not self.noise_multiplier > 0:
            raise ValueError(f"Expected dp-clip > 0 and a noise multiplier > 0, got {self}")
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

    def epsilon(self, rounds: int) -> float:
        """Epsilon at ``delta`` after ``rounds`` rounds (0 for 0 rounds)."""
        return epsilon_after(self.noise_multiplier, rounds, self.delta)


def epsilon_after(noise_multiplier: float, rounds: int, delta: float) -> float:
    """RDP epsilon of ``rounds`` Gaussian mechanisms with this noise multiplier."""
    if rounds <= 0:
        return 0.0
    accountant = rdp.RdpAccountant()
    accountant.compose(dp_accounting.GaussianDpEvent(noise_multiplier), rounds)
    return float(accountant.get_epsilon(delta))


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
        raise ValueError(f"target-epsilon {target_epsilon} over {rounds} rounds needs a noise multiplier > {MAX_NOISE_MULTIPLIER}")
    low, high = 0.0, MAX_NOISE_MULTIPLIER
    while high - low > 1e-3 * high:
        mid = (low + high) / 2
        if mid > 0 and epsilon_after(mid, rounds, delta) <= target_epsilon:
            high = mid
        else:
            low = mid
    return high


def rounds_within(target_epsilon: float, noise_multiplier: float, delta: float, planned: int) -> int:
    """How many of the ``planned`` rounds fit the budget (stop before exceeding it)."""
    rounds = 0
    while rounds < planned and epsilon_after(noise_multiplier, rounds + 1, delta) <= target_epsilon:
        rounds += 1
    return rounds


def privatize(
    delta: np.ndarray, clip: float, share_std: float, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """Clip ``delta`` to L2 norm ``clip`` and add this client's noise share.

    Returns
    -------
    tuple[np.ndarray, float]
        The noisy update and the update's L2 norm before clipping.
    """
    norm = float(np.linalg.norm(delta))
    clipped = delta * min(1.0, clip / norm) if norm > 0 else delta
    return clipped + rng.normal(0.0, share_std, delta.shape), norm
