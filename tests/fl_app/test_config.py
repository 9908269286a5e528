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
        ({"num-clients": 1}, "num-clients = 1: expected an integer >= 2"),
        ({"partitioner": "random"}, "partitioner = 'random'"),
        ({"corpus": "mbox"}, "corpus = 'mbox'"),
        ({"aggregation": "magic"}, "aggregation = 'magic'"),
        ({"lr": "fast"}, "lr = 'fast': expected float"),
        ({"num-rounds": 3}, "Unknown run-config key 'num-rounds'"),
    ],
)
def test_bad_values_name_the_key_and_what_was_expected(values, message):
    with pytest.raises(ValueError) as info:
        RunConfig.from_mapping(values)
    assert message in str(info.value)
