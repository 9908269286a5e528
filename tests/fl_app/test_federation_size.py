"""How many clients a run gets, and when the federation cannot serve it."""

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from fl_app import federation_size
from fl_app.config import RunConfig, RunConfigError
from fl_app.federation_size import clients_of_federation, fix_command
from fl_app.run_paths import project_dir, with_absolute_paths


class FakeGrid:
    """A grid whose node list grows by the given schedule, one step per call."""

    def __init__(self, counts: list[int], task: str = "flwr-simulation") -> None:
        self.counts, self.run = list(counts), SimpleNamespace(primary_task_type=task)

    def get_node_ids(self) -> list[int]:
        count = self.counts.pop(0) if len(self.counts) > 1 else self.counts[0]
        return list(range(1, count + 1))


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setattr(federation_size, "POLL_S", 0.001)
    monkeypatch.setattr(federation_size, "SETTLE_S", 0.02)


def test_a_secure_run_on_flowers_default_two_nodes_stops_with_the_command_that_fixes_it():
    with pytest.raises(RunConfigError, match=re.escape(fix_command(3))):
        clients_of_federation(FakeGrid([2]), RunConfig())


def test_num_clients_0_takes_every_simulated_node_even_those_registering_late():
    cfg = clients_of_federation(FakeGrid([0, 0, 1, 4]), RunConfig())
    assert cfg.num_clients == 4 and cfg.min_clients == 3


def test_plain_fedavg_runs_on_two_nodes():
    cfg = clients_of_federation(FakeGrid([2]), RunConfig(aggregation="plain"))
    assert (cfg.num_clients, cfg.min_clients) == (2, 2)


def test_more_clients_than_simulated_nodes_is_refused_at_once_not_waited_for():
    with pytest.raises(RunConfigError, match=re.escape(fix_command(5))):
        clients_of_federation(FakeGrid([3]), RunConfig(num_clients=5))


def test_a_deployment_waits_for_nodes_connecting_over_time(monkeypatch):
    monkeypatch.setattr("strategies.bounded.NODE_POLL_S", 0.001)
    cfg = clients_of_federation(
        FakeGrid([0, 1, 2, 3, 4], task="flwr-serverapp"), RunConfig(round_timeout=10)
    )
    assert cfg.num_clients >= 3
    with pytest.raises(RunConfigError, match="start more SuperNodes"):
        clients_of_federation(FakeGrid([2], task="flwr-serverapp"), RunConfig(round_timeout=0.01))


def test_relative_paths_resolve_against_the_project_folder(tmp_path):
    cfg = with_absolute_paths(
        RunConfig(results_dir="results", checkpoint_dir=str(tmp_path), data_path="~/mail"),
        base=Path("/project"),
    )
    assert cfg.results_dir == "/project/results" and cfg.checkpoint_dir == str(tmp_path)
    assert cfg.data_path == str(Path.home() / "mail") and cfg.key_file == ""
    # Installed with pip install -e . (as CI does): the project is this checkout.
    assert project_dir() == Path(__file__).resolve().parents[2]
