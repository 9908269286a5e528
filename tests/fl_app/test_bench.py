"""fl-spam bench --quick: its JSON fields, depths and floors, and secure and plain aggregates
agreeing (no timing asserts)."""

import json

import pytest

from fl_app.bench import CRITERIA, fanin_choice
from fl_app.cli import main
from strategies import tree_walk
from strategies.chain import DEFAULT_FANIN
from strategies.codec import FRAC_BITS, CodecParams

BOUND = 2.0 ** -(FRAC_BITS + 1) + 1e-12
# Measured only by the full bench: quick starts neither Ray nor SuperNodes, and says so with null.
FULL_ONLY = (
    "round_ratio_10",
    "sim_round_ratio",
    "sim_over_floor",
    "deployment_round_ratio_10",
    "best_fanin",
    "flwr_run",
    "deployment",
    "fanin",
)
FIELDS = {
    "speedup_vs_phe",
    "bytes_per_weight",
    "exponentiation_s",
    "cores",
    "round_ratio_3",
    "masks_and_checks_overhead_3",
    "round_ratio",
    "over_floor",
    "ready_share",
    "criteria",
    "train_emails_per_s",
    "machine",
    "codec",
    "rounds",
    "phe",
    "phases_s",
    "total_s",
    *FULL_ONLY,
}


def test_quick_bench_reports_every_field_and_the_aggregates_agree(capsys):
    assert main(["bench", "--quick", "--json"]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out.strip().splitlines()[-1])
    assert FIELDS <= result.keys() and result["quick"] is True
    assert result["machine"]["cores"] >= 1 and result["machine"]["flwr"].startswith("1.42")
    for measured in (
        "speedup_vs_phe",
        "bytes_per_weight",
        "round_ratio_3",
        "train_emails_per_s",
        "exponentiation_s",
    ):
        assert result[measured] > 0
    assert all(result[field] is None for field in FULL_ONLY)
    assert result["round_ratio"]["100"] is None and result["over_floor"]["10"] is None
    assert result["criteria"].keys() == CRITERIA.keys()
    assert all(c["value"] is None and c["met"] is None for c in result["criteria"].values())
    # One progress line per phase, on stderr.
    assert (
        err.count("bench [") == len(result["phases_s"])
        and "rounds in process, 3 clients" in result["phases_s"]
    )

    [round_3] = result["rounds"]
    assert round_3["clients"] == 3 and round_3["max_abs_diff"] <= BOUND
    assert round_3["without_masks_and_checks_s"] > 0
    assert "sms" in round_3["corpus"].lower() and result["corpus"] == round_3["corpus"]
    assert round_3["ciphertexts"] == CodecParams(2048, round_3["weights"]).num_plaintexts
    # The depth comes from the round's metric, and is the tree's.
    assert round_3["fanin"] == DEFAULT_FANIN
    assert round_3["message_depth"] == round_3["planned_depth"] == tree_walk.depth(3, DEFAULT_FANIN)
    # The floor: clients x ciphertexts x one exponentiation / cores.
    assert round_3["floor_s"] == pytest.approx(
        3 * round_3["ciphertexts"] * result["exponentiation_s"] / result["cores"]
    )
    assert round_3["paillier_over_floor"] == pytest.approx(
        round_3["paillier_s"] / round_3["floor_s"]
    )
    assert result["over_floor"]["3"] == round_3["paillier_over_floor"]
    # Every client asked for one obfuscator per ciphertext, ready or not.
    assert (
        round_3["obfuscators_ready"] + round_3["obfuscators_waited"] == 3 * round_3["ciphertexts"]
    )
    assert (
        0.0 <= round_3["ready_share"] <= 1.0
        and result["ready_share"]["3"] == round_3["ready_share"]
    )

    assert all(c["max_abs_error"] <= BOUND for c in result["codec"])
    assert result["bytes_per_weight"] < result["phe_bytes_per_weight"]


def test_the_best_fanin_minimises_the_estimated_deployment_round():
    sweep = [
        {"fanin": 1, "paillier_s": 10.0, "message_depth": 11},
        {"fanin": 4, "paillier_s": 10.5, "message_depth": 4},
        {"fanin": 16, "paillier_s": 14.0, "message_depth": 3},
    ]
    choice = fanin_choice(sweep, wave_latency_s=2.0)
    assert [r["estimated_deployment_round_s"] for r in choice["by_fanin"]] == [32.0, 18.5, 20.0]
    assert choice["best_fanin"] == 4 and choice["wave_latency_s"] == 2.0
    assert (
        fanin_choice(sweep, wave_latency_s=0.0)["best_fanin"] == 1
    )  # no latency: the cheapest in process
