"""fl-spam bench --quick: its JSON fields, and secure and plain aggregates agreeing (no timing asserts)."""

import json

from fl_app.cli import main
from strategies.codec import FRAC_BITS

BOUND = 2.0 ** -(FRAC_BITS + 1) + 1e-12
FIELDS = {
    "speedup_vs_phe", "bytes_per_weight", "round_ratio_3", "round_ratio_10", "sim_round_ratio_3",
    "train_emails_per_s", "machine", "codec", "rounds", "phe", "masks_and_checks_overhead_3",
}


def test_quick_bench_reports_every_field_and_the_aggregates_agree(capsys):
    assert main(["bench", "--quick", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert FIELDS <= result.keys() and result["quick"] is True
    assert result["machine"]["cores"] >= 1 and result["machine"]["flwr"].startswith("1.42")
    for measured in ("speedup_vs_phe", "bytes_per_weight", "round_ratio_3", "train_emails_per_s"):
        assert result[measured] > 0
    # Quick mode skips what takes minutes, and says so with null.
    assert result["round_ratio_10"] is None and result["sim_round_ratio_3"] is None
    [round_3] = result["rounds"]
    assert round_3["clients"] == 3 and round_3["max_abs_diff"] <= BOUND
    assert round_3["without_masks_and_checks_s"] > 0
    assert all(c["max_abs_error"] <= BOUND for c in result["codec"])
    assert result["bytes_per_weight"] < result["phe_bytes_per_weight"]
    assert "SYNTHETIC" in result["corpus"]
