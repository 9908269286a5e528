"""DP in a whole (in-process) run: the budget stops training, epsilon is reported;
off leaves the run untouched."""

import pytest

from fl_app import server_app
from fl_app.client_app import app as client_app
from fl_app.config import RunConfig
from fl_app.local_grid import LocalGrid
from strategies.privacy import epsilon_after, epsilon_of


def run(tiny_corpus, tmp_path, rounds=4, **dp):
    cfg = RunConfig(
        corpus="tsv",
        data_path=str(tiny_corpus),
        aggregation="paillier",
        num_server_rounds=rounds,
        lr=0.05,
        batch_size=16,
        results_dir=str(tmp_path),
        checkpoint_dir=str(tmp_path),
        **dp,
    )
    grid = LocalGrid(client_app, 3, cfg.to_dict())
    return server_app.run(grid, cfg, "run"), grid


def test_target_epsilon_stops_training_before_the_budget_is_exceeded(tiny_corpus, tmp_path):
    payload, grid = run(
        tiny_corpus, tmp_path, dp_clip=0.5, dp_noise_multiplier=2.0, target_epsilon=8.0
    )
    assert [r["round"] for r in payload["rounds"]] == [0, 1, 2]  # round 3 would exceed 8
    for entry in payload["rounds"]:
        assert entry["epsilon"] == pytest.approx(epsilon_after(2.0, entry["round"], 1e-5))
    assert payload["dp"]["epsilon"] <= 8.0 < epsilon_after(2.0, 3, 1e-5)
    assert payload["dp"]["neighbouring"] == "replace-one"
    # Under DP every client counts once, and no training loss is reported.
    assert all("contributors" in r for r in payload["rounds"][1:])
    assert all("train_loss" not in m.content.get("metrics", {}) for m in grid.received)


def test_a_resumed_dp_run_accounts_the_noise_earlier_rounds_really_had(tiny_corpus, tmp_path):
    run(tiny_corpus, tmp_path, rounds=1, dp_clip=0.5, dp_noise_multiplier=4.0)
    payload, _ = run(
        tiny_corpus, tmp_path, rounds=2, dp_clip=0.5, dp_noise_multiplier=2.0, resume=True
    )
    assert [r["noise_multiplier"] for r in payload["rounds"]] == [0.0, 4.0, 2.0]
    assert payload["dp"]["epsilon"] == pytest.approx(epsilon_of([4.0, 2.0], 1e-5))
    assert payload["dp"]["epsilon"] < epsilon_after(2.0, 2, 1e-5)


def test_the_noise_multiplier_is_derived_from_the_target(tiny_corpus, tmp_path):
    payload, _ = run(tiny_corpus, tmp_path, dp_clip=0.5, target_epsilon=8.0)
    assert len(payload["rounds"]) == 5 and payload["dp"]["epsilon"] <= 8.0


def test_dp_off_leaves_messages_and_results_untouched(tiny_corpus, tmp_path):
    first, grid = run(tiny_corpus, tmp_path / "a")
    second, _ = run(tiny_corpus, tmp_path / "b", dp_clip=0.0)
    assert first["dp"] is None
    assert [r["accuracy"] for r in first["rounds"]] == [r["accuracy"] for r in second["rounds"]]
    assert [r["loss"] for r in first["rounds"]] == [
        r["loss"] for r in second["rounds"]
    ]  # bit for bit
    for msg in grid.sent:
        assert not any(k.startswith("dp-") for k in msg.content.get("config", {}))
    assert all("epsilon" not in r for r in first["rounds"])


@pytest.mark.parametrize(
    "values, message",
    [
        (
            {"dp-clip": 0.5, "dp-noise-multiplier": 1.0, "aggregation": "plain"},
            "aggregation = 'paillier' with it",
        ),
        ({"dp-clip": 0.5, "aggregation": "paillier"}, "a noise source"),
        (
            {"target-epsilon": 8.0, "aggregation": "paillier"},
            "> 0 when dp-noise-multiplier or target-epsilon",
        ),
    ],
)
def test_dp_settings_that_would_not_protect_anyone_are_refused(values, message):
    with pytest.raises(ValueError, match=message):
        RunConfig.from_mapping(values)
