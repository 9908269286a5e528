"""The fixed-point packing codec: exactness bound, clipping, overflow detection."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies.codec import (
    GUARD_BITS,
    HEADER_SLOTS,
    CodecParams,
    decode,
    encode,
    flatten_update,
    unflatten_update,
)
from strategies.errors import AggregateCheckError, ContributionError, ProtocolError


def plain_sum(plaintext_lists):
    return [sum(values) for values in zip(*plaintext_lists, strict=True)]


@settings(max_examples=40, deadline=None)
@given(
    clients=st.integers(2, 10),
    weights=st.integers(1, 300),
    seed=st.integers(0, 2**16),
    key_bits=st.sampled_from([2048, 3072]),
)
def test_decoded_mean_is_within_the_stated_bound_of_weighted_fedavg(
    clients, weights, seed, key_bits
):
    rng = np.random.default_rng(seed)
    params = CodecParams(key_bits, weights)
    deltas = [rng.uniform(-params.clip, params.clip, weights) for _ in range(clients)]
    counts = [int(c) for c in rng.integers(1, params.max_examples // clients, clients)]
    encoded = [encode(d, n, params)[0] for d, n in zip(deltas, counts, strict=True)]
    aggregate = decode(plain_sum(encoded), clients, params)
    exact = sum(n * d for d, n in zip(deltas, counts, strict=True)) / sum(counts)
    assert aggregate.contributors == clients and aggregate.examples == sum(counts)
    assert np.abs(aggregate.mean_delta - exact).max() <= params.error_bound + 1e-12
    assert params.error_bound < 1e-6


def test_slots_are_tight_and_fit_below_n():
    params = CodecParams(2048, 30_000)
    assert params.slot_bits == (2 * params.q_max * params.max_examples).bit_length() + GUARD_BITS
    assert params.slots_per_plaintext * params.slot_bits <= 2047
    assert params.slots_per_plaintext >= 53  # 512 bytes / 53 < 10 bytes per weight


def test_values_outside_the_clip_range_are_clipped_and_counted():
    params = CodecParams(2048, 4, clip=0.5)
    plaintexts, clipped = encode(np.array([2.0, -3.0, 0.25, 0.5]), 10, params)
    other, _ = encode(np.zeros(4), 10, params)
    aggregate = decode(plain_sum([plaintexts, other]), 2, params)
    assert clipped == 2
    np.testing.assert_allclose(
        aggregate.mean_delta, [0.25, -0.25, 0.125, 0.25], atol=params.error_bound
    )


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_values_encode_as_zero_and_count_as_clipped(bad):
    """Refusing would tell the server something about the client's data."""
    params = CodecParams(2048, 3)
    plaintexts, clipped = encode(np.array([0.1, bad, 0.2]), 5, params, loss=bad)
    aggregate = decode(plaintexts, 1, params)
    assert clipped == 1 and aggregate.clipped == 1
    np.testing.assert_allclose(aggregate.mean_delta, [0.1, 0.0, 0.2], atol=params.error_bound)
    assert 0 <= aggregate.mean_loss <= 16


def test_an_example_count_above_the_public_bound_is_capped_not_refused():
    params = CodecParams(2048, 3, max_examples=100)
    assert decode(encode(np.zeros(3), 101, params)[0], 1, params).examples == 100
    with pytest.raises(ContributionError, match="at least 1"):
        encode(np.zeros(3), 0, params)


def test_a_total_over_max_examples_is_refused_after_decryption():
    params = CodecParams(2048, 10, max_examples=100)
    parts = [encode(np.zeros(10), 60, params)[0] for _ in range(2)]
    with pytest.raises(AggregateCheckError, match="says 120 e-mails from 2 contributors"):
        decode(plain_sum(parts), 2, params)


def test_more_contributions_than_declared_fail_the_count_check():
    params = CodecParams(2048, 10)
    parts = [encode(np.zeros(10), 5, params)[0] for _ in range(3)]
    with pytest.raises(AggregateCheckError, match="Contributor-count slot says 3, expected 2"):
        decode(plain_sum(parts), 2, params)


def test_slot_overflow_is_caught_by_the_guard_bits():
    params = CodecParams(2048, 10)
    honest = encode(np.zeros(10), 5, params)[0]
    # A contribution encoded out of range: every weight slot at its bit-width maximum.
    rogue = encode(np.zeros(10), 5, params)[0]
    full = (1 << (params.slot_bits - 1)) - 1
    rogue[0] = sum(
        (v << (k * params.slot_bits))
        for k, v in enumerate([1, 5, 0, 0] + [full] * params.num_weights)
    )
    with pytest.raises(AggregateCheckError, match="overflow caught by the guard bits"):
        decode(plain_sum([honest, rogue]), 2, params)


def test_params_round_trip_through_a_config_record_and_refuse_what_is_not_a_number():
    params = CodecParams(3072, 123, clip=2.0, max_examples=999)
    assert CodecParams.from_config(params.to_config()) == params
    assert "frac-bits" not in params.to_config()  # a protocol constant, not a parameter
    with pytest.raises(ProtocolError, match="'clip' is missing"):
        CodecParams.from_config({k: v for k, v in params.to_config().items() if k != "clip"})
    for key, value in [("clip", "2.0"), ("max-examples", True), ("key-bits", 3072.0)]:
        with pytest.raises(ProtocolError, match=key):
            CodecParams.from_config({**params.to_config(), key: value})


@pytest.mark.parametrize(
    "clip, max_examples",
    [
        (float("inf"), 10),
        (float("nan"), 10),
        (2.0**-21, 10),  # below one fixed-point step: Q would be 0
        (2.0**16, 2**25),  # 2 Q T = 2^61: int64 intermediates could wrap
    ],
)
def test_parameters_that_could_wrap_or_vanish_are_refused_before_any_encoding(clip, max_examples):
    with pytest.raises(ValueError):
        CodecParams(2048, 10, clip=clip, max_examples=max_examples)


EXTREMES = {
    "all at +clip": lambda c: np.full(50, c),
    "all at -clip": lambda c: np.full(50, -c),
    "far beyond": lambda c: np.full(50, 1e300),
    "nan and inf": lambda c: np.array([np.nan, np.inf, -np.inf, 1e308, -1e308] * 10),
}


@pytest.mark.parametrize("update", list(EXTREMES))
@pytest.mark.parametrize("noise", [None, "int64 extremes"])
def test_no_data_makes_encoding_fail_or_wrap(update, noise):
    """The widest codec a node accepts, the largest e-mail count, and updates (and noise) at
    every extreme: encoding never raises, and every slot stays within its legitimate range."""
    params = CodecParams(2048, 50, clip=2.0**16, max_examples=2**20)
    delta = EXTREMES[update](params.clip)
    extreme = np.array([np.iinfo(np.int64).max, np.iinfo(np.int64).min] * 25, dtype=np.int64)
    plaintexts, clipped = encode(
        delta, 2**40, params, loss=float("inf"), noise=extreme if noise else None
    )
    assert all(0 <= p < 2 ** (params.key_bits - 1) for p in plaintexts)
    aggregate = decode(plaintexts, 1, params)  # every slot within its maximum
    assert aggregate.examples == params.max_examples
    assert np.all(np.abs(aggregate.mean_delta) <= params.clip)
    assert clipped > 0 or (update.startswith("all at") and noise is None)


def test_a_corrupted_padding_slot_is_refused():
    params = CodecParams(2048, 10)
    parts = [encode(np.zeros(10), 5, params)[0] for _ in range(2)]
    total = plain_sum(parts)
    total[0] += 1 << (params.slot_bits * (params.num_weights + HEADER_SLOTS))
    with pytest.raises(AggregateCheckError, match="padding slots are not zero"):
        decode(total, 2, params)


def test_an_update_flattens_in_array_order_and_unflattens_into_each_shape_and_dtype():
    old = [np.zeros((3, 1)), np.ones(2, dtype=np.float32)]
    new = [np.array([[1.0], [2.0], [3.0]]), np.array([3.0, 5.0], dtype=np.float32)]
    delta = flatten_update(new, old)
    np.testing.assert_array_equal(delta, [1.0, 2.0, 3.0, 2.0, 4.0])
    back = unflatten_update(old, delta)
    assert [a.shape for a in back] == [(3, 1), (2,)] and back[1].dtype == np.float32
    for a, b in zip(back, new, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="shapes"):
        flatten_update([np.zeros(3)], [np.zeros((3, 1))])
    with pytest.raises(ValueError, match="5 values, got 4"):
        unflatten_update(old, delta[:4])
