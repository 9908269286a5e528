"""A node's own floors and bounds from its node-config: a value that would switch a floor off or
loosen a bound is refused."""

import math

import pytest

from clients.node_policy import MAX_CLIP, MAX_EXAMPLES, ClientPolicy


@pytest.mark.parametrize(
    "key, value",
    [
        ("dp-min-noise-multiplier", math.nan),  # NaN >= x is False: the floor would be off
        ("dp-max-epsilon", math.nan),
        ("dp-max-epsilon", -1.0),
        ("dp-min-noise-multiplier", math.inf),
        ("dp-delta", 1.5),
    ],
)
def test_a_floor_that_is_not_a_finite_number_is_refused_naming_the_key(key, value):
    with pytest.raises(ValueError, match=f"node-config {key}"):
        ClientPolicy.from_node_config({key: value})


def test_sane_floors_are_kept():
    policy = ClientPolicy.from_node_config({"dp-min-noise-multiplier": 1, "dp-max-epsilon": 8.0})
    assert (policy.min_noise_multiplier, policy.max_epsilon) == (1.0, 8.0)


@pytest.mark.parametrize(
    "key, value",
    [
        ("max-clip", MAX_CLIP * 2),  # a node may tighten a bound, never loosen it
        ("max-examples", MAX_EXAMPLES + 1),
        ("max-clip", 0),
        ("dp-min-clip", 2.0),  # above its own dp-max-clip, 1.0
        ("allow-plain", "yes"),
    ],
)
def test_node_bounds_can_only_be_tightened(key, value):
    node_config = {key: value, **({"dp-max-clip": 1.0} if key == "dp-min-clip" else {})}
    with pytest.raises(ValueError, match=key):
        ClientPolicy.from_node_config(node_config)


def test_node_bounds_are_read_from_the_node_config():
    policy = ClientPolicy.from_node_config(
        {
            "max-clip": 16,
            "max-examples": 32_000,
            "dp-min-clip": 0.1,
            "dp-max-clip": 2,
            "dp-min-noise-std": 1.5,
            "dp-min-share-std": 0.5,
            "allow-plain": "true",
        }
    )
    assert (policy.max_clip, policy.max_examples, policy.dp_min_clip, policy.dp_max_clip) == (
        16.0,
        32_000,
        0.1,
        2.0,
    )
    assert (policy.dp_min_noise_std, policy.dp_min_share_std) == (1.5, 0.5)
    assert policy.requires_dp and not policy.answers_plain  # a DP floor: secure rounds only
    assert ClientPolicy.from_node_config({"allow-plain": True}).answers_plain
    assert not ClientPolicy.from_node_config({}).answers_plain  # the default
    assert ClientPolicy.from_node_config({}, allow_plain_by_default=True).answers_plain
