"""The fl-spam command line: JSON last line, errors without tracebacks."""

import json
import subprocess
import sys

from fl_app.cli import main


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_centralized_reaches_95_percent_on_the_synthetic_corpus_in_3_epochs(capsys):
    assert main(["centralized", "--json"]) == 0
    result = last_json(capsys)
    assert len(result["accuracy"]) == 3
    assert result["accuracy"][-1] >= 0.95
    assert "SYNTHETIC" in result["corpus"] and result["synthetic"] is True


def test_data_stats_counts_a_tsv_corpus(tmp_path, capsys):
    path = tmp_path / "m.tsv"
    path.write_text("spam\tbuy cheap pills\nham\tlunch at noon\nspam\twin cash\nham\tagenda\n")
    assert main(["data", "stats", "--corpus", "tsv", "--data", str(path), "--json"]) == 0
    stats = last_json(capsys)
    assert (stats["spam"], stats["ham"], stats["vocabulary"]) == (2, 2, 1 + 9)
    assert stats["synthetic"] is False and "fallback split" in stats["split"]


def test_bad_input_exits_2_with_one_error_line_and_no_traceback(tmp_path):
    missing = tmp_path / "nothing.tsv"
    proc = subprocess.run(
        [sys.executable, "-m", "fl_app.cli", "centralized", "--corpus", "tsv", "--data", str(missing), "--json"],
        capture_output=True, text=True, timeout=120,
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
