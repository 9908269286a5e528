"""A node's own floors from its node-config: a value that would switch a floor off is refused."""

import math

import pytest

from clients.secure_chain import ClientPolicy


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
