"""Run-config parsing: defaults match pyproject.toml, bad values are named."""

import tomllib
from pathlib import Path

import pytest

from fl_app.config import RunConfig

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_defaults_equal_the_run_config_in_pyproject():
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["flwr"]["app"]["config"]
    assert RunConfig.from_mapping(config) == RunConfig()
    assert RunConfig().to_dict() == config


def test_values_are_converted_from_toml_types():
    cfg = RunConfig.from_mapping({"lr": 1, "num-clients": 5, "dirichlet-alpha": 2})
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float) and cfg.num_clients == 5


@pytest.mark.parametrize(
    "values, message",
    [
        ({"num-clients": 1}, "num-clients = 1: expected 0 (one client per SuperNode"),
        ({"partitioner": "random"}, "partitioner = 'random'"),
        ({"corpus": "outlook"}, "corpus = 'outlook'"),
        ({"split": "random"}, "split = 'random'"),
        ({"preset": "fast"}, "preset = 'fast'"),
        ({"aggregation": "magic"}, "aggregation = 'magic'"),
        ({"lr": "fast"}, "lr = 'fast': expected float"),
        ({"num-rounds": 3}, "Unknown run-config key 'num-rounds'"),
        ({"lr": float("inf")}, "lr = inf: expected a finite number"),
        ({"round-timeout": float("nan")}, "round-timeout = nan: expected a finite number"),
    ],
)
def test_bad_values_name_the_key_and_what_was_expected(values, message):
    with pytest.raises(ValueError) as info:
        RunConfig.from_mapping(values)
    assert message in str(info.value)


def test_a_preset_fills_the_keys_left_at_their_defaults():
    book = RunConfig.from_mapping({"preset": "book"})
    assert (
        book.loss,
        book.lr,
        book.batch_size,
        book.local_epochs,
        book.bias,
        book.shuffle,
        book.split,
    ) == ("mse", 0.01, 500, 1, False, False, "book")
    # A key the user changed keeps the user's value.
    assert RunConfig.from_mapping({"preset": "book", "lr": 0.05}).lr == 0.05
