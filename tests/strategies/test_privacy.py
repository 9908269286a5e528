"""Differential privacy: the clip bound, the grid noise of the decrypted sum, the accounting."""

import dp_accounting
import numpy as np
import pytest
from dp_accounting import rdp
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies import paillier_math, privacy
from strategies.codec import CodecParams, decode, encode
from strategies.keys import generate_keypair
from strategies.privacy import (
    DpSettings,
    clip_l2,
    epsilon_after,
    epsilon_of,
    grid_noise,
    noise_multiplier_for,
    rounds_within,
)


@settings(max_examples=60, deadline=None)
@given(
    scale=st.floats(1e-6, 1e3),
    clip=st.floats(0.01, 10.0),
    size=st.integers(1, 500),
    seed=st.integers(0, 2**16),
)
def test_every_clipped_update_is_within_the_l2_bound(scale, clip, size, seed):
    delta = np.random.default_rng(seed).normal(0, scale, size)
    clipped = clip_l2(delta, clip)
    assert np.linalg.norm(clipped) <= clip * (1 + 1e-9)
    if np.linalg.norm(delta) <= clip:
        np.testing.assert_array_equal(clipped, delta)  # small updates pass unchanged


def test_the_decrypted_sum_of_noise_shares_has_the_target_standard_deviation():
    """Three clients with zero updates: the decrypted sum is pure noise of std z C.

    The shares are integers on the codec's grid (OpenDP's discrete Gaussian).
    4,000 values: the sample standard deviation is within 1.2% of the true one
    (one standard error); the tolerance, 5%, is four standard errors.
    """
    dp = DpSettings(clip=0.5, noise_multiplier=1.1, min_clients=3)
    pub, priv = generate_keypair()
    params = CodecParams(2048, 4000, clip=dp.value_bound)
    contributions = []
    for _ in range(3):
        noise = grid_noise(4000, dp.share_std)
        plaintexts, clipped = encode(np.zeros(4000), 1, params, noise=noise)
        assert clipped == 0  # the codec bound leaves the noise untouched
        contributions.append(paillier_math.encrypt_many(pub.n, plaintexts))
    total = contributions[0]
    for other in contributions[1:]:
        total = paillier_math.add(pub.n, total, other)
    aggregate = decode([priv.raw_decrypt(c) for c in total], 3, params)
    noise_sum = aggregate.mean_delta * aggregate.examples  # equal weights: examples == contributors
    assert aggregate.examples == 3
    assert np.std(noise_sum) == pytest.approx(dp.sum_std, rel=0.05)
    assert abs(np.mean(noise_sum)) < 4 * dp.sum_std / np.sqrt(4000)


def test_the_noise_comes_from_opendp_not_numpy(monkeypatch):
    def no_numpy(*args, **kwargs):
        raise AssertionError("numpy's generator used for DP noise")

    monkeypatch.setattr(np.random, "default_rng", no_numpy)
    monkeypatch.setattr(np.random, "normal", no_numpy)
    noise = grid_noise(1000, 1e-3)
    assert noise.dtype == np.int64 and 400 < np.std(noise) < 600  # std 1e-3 * 2^19 = 524 grid steps


@pytest.mark.parametrize(
    "z, rounds, delta", [(1.0, 1, 1e-5), (1.1, 3, 1e-5), (0.8, 10, 1e-6), (4.0, 50, 1e-5)]
)
def test_epsilon_is_the_accounting_librarys_for_replace_one_neighbours(z, rounds, delta):
    """Replacing one client's update moves the sum by 2 C: the mechanism's multiplier is z / 2."""
    assert privacy.NEIGHBOURING == "replace-one"
    accountant = rdp.RdpAccountant()
    accountant.compose(dp_accounting.GaussianDpEvent(z / 2), rounds)
    assert epsilon_after(z, rounds, delta) == pytest.approx(
        accountant.get_epsilon(delta), rel=1e-12
    )
    assert epsilon_after(z, rounds + 1, delta) > epsilon_after(
        z, rounds, delta
    )  # budgets only grow


def test_the_derived_noise_multiplier_is_the_smallest_that_meets_the_target():
    z = noise_multiplier_for(8.0, 3, 1e-5)
    assert epsilon_after(z, 3, 1e-5) <= 8.0 < epsilon_after(0.99 * z, 3, 1e-5)
    assert rounds_within(8.0, z, 1e-5, planned=10) == 3
    with pytest.raises(ValueError, match="target-epsilon"):
        noise_multiplier_for(0.0, 3, 1e-5)


def test_a_resumed_run_accounts_earlier_rounds_with_their_own_noise():
    spent = [4.0, 4.0]
    assert epsilon_of([*spent, 1.0], 1e-5) < epsilon_after(1.0, 3, 1e-5)
    assert epsilon_of([*spent, 1.0], 1e-5) > epsilon_after(4.0, 3, 1e-5)
    z = 1.5
    assert rounds_within(8.0, z, 1e-5, planned=20, spent=spent) > rounds_within(
        8.0, z, 1e-5, planned=20
    )


def test_shares_are_sized_for_min_clients():
    dp = DpSettings(clip=2.0, noise_multiplier=1.5, min_clients=9)
    assert dp.sum_std == 3.0 and dp.share_std == pytest.approx(1.0)
    assert dp.value_bound > dp.clip + 7 * dp.share_std
    with pytest.raises(ValueError):
        DpSettings(clip=0.0, noise_multiplier=1.0, min_clients=3)


def test_a_nan_does_not_switch_the_l2_clip_off():
    clipped = clip_l2(np.array([3.0, 4.0, np.nan, np.inf]), 1.0)
    np.testing.assert_allclose(clipped, [0.6, 0.8, 0.0, 0.0])


@settings(max_examples=60, deadline=None)
@given(
    weights=st.integers(1, 3000),
    sparse=st.integers(1, 20),
    steps=st.floats(2.0, 1e6),
    seed=st.integers(0, 2**16),
)
def test_an_update_rounded_to_the_grid_stays_within_dp_clip(weights, sparse, steps, seed):
    """The accounting assumes each contribution moves the sum by at most dp-clip in L2:
    rounding to the codec's grid must not add to that (review 4, F2: a sparse update of half
    steps rounds up to twice its norm). Updates are clipped to ``update_bound`` first."""
    slack = privacy.rounding_slack(weights)
    dp = DpSettings(clip=2 * slack + steps * 2.0**-19, noise_multiplier=100.0, min_clients=3)
    rng = np.random.default_rng(seed)
    update = np.zeros(weights)
    update[rng.choice(weights, min(sparse, weights), replace=False)] = rng.uniform(-1, 1)
    clipped = clip_l2(update * 1e3, dp.update_bound(weights))
    rounded = np.rint(clipped * 2.0**19) / 2.0**19  # what the codec encodes
    assert np.linalg.norm(rounded) <= dp.clip


@pytest.mark.parametrize(
    "dp, reason",
    [
        (DpSettings(clip=2.0**-19, noise_multiplier=1.0, min_clients=30), "steps of the codec"),
        (DpSettings(clip=2.0**-17, noise_multiplier=1e3, min_clients=3), "within twice"),
    ],
)
def test_settings_the_grid_cannot_carry_are_refused(dp, reason):
    with pytest.raises(ValueError, match=reason):
        dp.check_grid(20_000)
    DpSettings(clip=0.5, noise_multiplier=1.0, min_clients=100).check_grid(20_000)
