"""The fl-spam command line: JSON last line, errors without tracebacks."""

import json
import subprocess
import sys

from fl_app.cli import main


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_centralized_on_the_default_sms_corpus_reaches_the_reference(tmp_path, capsys):
    model = tmp_path / "sms.model.npz"
    assert main(["centralized", "--json", "--save-model", str(model)]) == 0
    result = last_json(capsys)
    # A class-balanced logistic regression on the same words reaches 98.4% and 0.990.
    assert result["accuracy"] >= 0.98 and result["auc"] >= 0.99
    assert result["accuracy"] > result["majority_accuracy"]
    assert {"precision", "recall", "fpr", "recall_at_fpr_1pct", "f1"} <= set(result)
    assert (
        "sms" in result["corpus"]
        and result["synthetic"] is False
        and "stratified" in result["split"]
    )
    assert len(result["epochs"]) == 9  # 3 rounds x 3 local epochs
    # The saved filter scores the test split exactly as it did in memory.
    assert main(["evaluate", "--model", str(model), "--json"]) == 0
    again = last_json(capsys)
    assert {k: again[k] for k in ("accuracy", "auc", "fpr")} == {
        k: result[k] for k in ("accuracy", "auc", "fpr")
    }


def test_the_books_preset_trains_the_books_way(capsys):
    assert main(["centralized", "--json", "--preset", "book", "--corpus", "synthetic"]) == 0
    result = last_json(capsys)
    assert (
        len(result["epochs"]) == 3
        and "book split" in result["split"]
        and result["preset"] == "book"
    )
    assert result["accuracy"] >= 0.95 and "SYNTHETIC" in result["corpus"]


def test_data_stats_counts_a_tsv_corpus(tmp_path, capsys):
    path = tmp_path / "m.tsv"
    path.write_text("spam\tbuy cheap pills\nham\tlunch at noon\nspam\twin cash\nham\tagenda\n")
    assert main(["data", "stats", "--corpus", "tsv", "--data", str(path), "--json"]) == 0
    stats = last_json(capsys)
    assert (stats["spam"], stats["ham"], stats["vocabulary"]) == (2, 2, 1 + 9)
    assert stats["synthetic"] is False and "stratified split" in stats["split"]


def test_a_path_that_looks_like_rich_markup_is_printed_as_it_is(tmp_path, capsys):
    folder = tmp_path / "q[" / "i]"  # rich would read "[/i]" as a closing tag, and raise
    folder.mkdir(parents=True)
    (folder / "m.tsv").write_text("spam\twin cash\nham\tlunch at noon\n" * 3)
    assert main(["data", "stats", "--corpus", "tsv", "--data", str(folder / "m.tsv")]) == 0
    assert "q[/i]" in capsys.readouterr().err


def test_bad_input_exits_2_with_one_error_line_and_no_traceback(tmp_path):
    missing = tmp_path / "nothing.tsv"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fl_app.cli",
            "centralized",
            "--corpus",
            "tsv",
            "--data",
            str(missing),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert str(missing) in json.loads(proc.stdout.strip().splitlines()[-1])["error"]


def test_identity_writes_a_private_key_once_and_prints_its_federation_line(tmp_path, capsys):
    key = tmp_path / "alice.key"
    assert main(["identity", "--member", "alice", "--key-file", str(key), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["line"] == f'alice = "{result["public_key"]}"' and len(result["public_key"]) == 64
    assert key.stat().st_mode & 0o777 == 0o600
    assert main(["identity", "--member", "alice", "--key-file", str(key)]) == 2  # never overwritten
