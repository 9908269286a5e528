"""Using the filter: a saved model classifies .eml files, an mbox, a Maildir and stdin."""

import io
import json
import mailbox
import os
import subprocess
import sys
from email.message import EmailMessage

import numpy as np
import pytest

from clients.model_file import FORMAT, ModelFileError, SavedModel, load_model, save_model
from data.loaders import tokenize
from data.mail import message_text
from fl_app.centralized import train_centralized
from fl_app.cli import main
from fl_app.config import RunConfig
from fl_app.dataset import load_data
from tests.data.mailboxes import write_mbox

SPAM = ["win cash now, claim your free prize", "free entry to win a prize: text WIN now"]
HAM = ["are we still on for lunch at noon?", "the agenda for tomorrow's meeting is attached"]


def message(subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = subject, "a@example.org", "b@example.org"
    msg.set_content(body)
    return msg


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained in memory on a small corpus, and the same model saved."""
    folder = tmp_path_factory.mktemp("model")
    corpus = folder / "corpus.tsv"
    corpus.write_text(
        "".join(f"spam\t{t}\n" for t in SPAM * 10) + "".join(f"ham\t{t}\n" for t in HAM * 10)
    )
    cfg = RunConfig(corpus="tsv", data_path=str(corpus))
    data = load_data(cfg)
    model, _ = train_centralized(data, cfg.recipe, epochs=5)
    path = save_model(
        folder / "filter.npz", SavedModel(model, data.vocabulary, {"corpus": data.corpus})
    )
    return model, data.vocabulary, path


def in_memory(trained, raws: list[bytes]) -> np.ndarray:
    model, vocabulary, _ = trained
    texts = [message_text(raw) for raw in raws]
    return model.predict(vocabulary.encode([tokenize(t) for t in texts], [0] * len(texts)))


def classify(capsys, *args: str) -> list[dict]:
    assert main(["classify", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])["messages"]


def test_eml_files_score_as_the_model_in_memory(trained, tmp_path, capsys):
    raws = []
    for i, (subject, body) in enumerate([("Prize", SPAM[0]), ("Lunch", HAM[0])]):
        raws.append(bytes(message(subject, body)))
        (tmp_path / f"{i}.eml").write_bytes(raws[-1])
    results = classify(
        capsys, "--model", str(trained[2]), str(tmp_path / "0.eml"), str(tmp_path / "1.eml")
    )
    assert [r["spam_probability"] for r in results] == pytest.approx(
        in_memory(trained, raws), abs=1e-12
    )
    assert [r["spam"] for r in results] == [True, False]
    assert results[0]["source"].endswith("0.eml")
    # --threshold moves the verdict, not the probability.
    high = classify(
        capsys, "--model", str(trained[2]), "--threshold", "0.999999", str(tmp_path / "0.eml")
    )
    assert (
        high[0]["spam_probability"] == results[0]["spam_probability"] and high[0]["spam"] is False
    )


def test_an_mbox_a_maildir_and_stdin(trained, tmp_path, capsys, monkeypatch):
    messages = [message("Prize", SPAM[1]), message("Agenda", HAM[1])]
    box = mailbox.mbox(tmp_path / "inbox.mbox")
    for m in messages:
        box.add(m)
    box.close()
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    for m in messages:
        maildir.add(m)
    expected = in_memory(trained, [bytes(m) for m in messages])
    for path in (tmp_path / "inbox.mbox", tmp_path / "Maildir"):
        results = classify(capsys, "--model", str(trained[2]), str(path))
        assert sorted(r["spam_probability"] for r in results) == pytest.approx(
            sorted(expected), abs=1e-12
        )
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(bytes(messages[0]))))
    assert classify(capsys, "--model", str(trained[2]))[0]["spam_probability"] == pytest.approx(
        expected[0]
    )


def test_skipped_messages_are_listed_with_why_and_counted(trained, tmp_path, capsys):
    image_only = b"Content-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n"
    box = write_mbox(
        tmp_path / "inbox.mbox", [bytes(message("Prize", SPAM[0])), image_only, image_only]
    )
    assert main(["classify", "--json", "--model", str(trained[2]), str(box)]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out.strip().splitlines()[-1])
    assert [m["source"] for m in result["messages"]] == [f"{box}:1"]
    assert [s["source"] for s in result["skipped"]] == [f"{box}:2", f"{box}:3"]
    assert all("no readable text" in s["reason"] for s in result["skipped"])
    assert main(["classify", "--model", str(trained[2]), str(box)]) == 0
    human = capsys.readouterr()
    assert len(human.out.splitlines()) == 1 and "2 skipped" in human.err


def test_a_source_name_that_is_not_utf8_is_printed_escaped(trained, tmp_path, capsys):
    path = tmp_path / os.fsdecode(b"caf\xe9.eml")
    path.write_bytes(bytes(message("Prize", SPAM[0])))
    assert main(["classify", "--model", str(trained[2]), str(path)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("caf\\udce9.eml")


def test_a_model_file_of_another_version_or_a_damaged_one_is_refused(trained, tmp_path):
    model, vocabulary, path = trained
    with np.load(path, allow_pickle=False) as npz:
        arrays = dict(npz)
    header = json.loads(str(arrays["header"]))
    for name, change in [
        ("newer", {"version": header["version"] + 1}),
        ("other", {"format": "not-" + FORMAT}),
        ("tokens", {"tokenizer": "split-on-spaces"}),
    ]:
        np.savez(
            tmp_path / f"{name}.npz",
            **{**arrays, "header": np.array(json.dumps({**header, **change}))},
        )
        with pytest.raises(ModelFileError, match=f"{name}.npz"):
            load_model(tmp_path / f"{name}.npz")
    np.savez(tmp_path / "damaged.npz", **{**arrays, "words": arrays["words"][:-1]})
    with pytest.raises(ModelFileError, match="do not match its vocabulary"):
        load_model(tmp_path / "damaged.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="not an fl-spam model file"):
        load_model(tmp_path / "junk.npz")


def test_classify_with_a_missing_model_is_one_error_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "fl_app.cli", "classify", "--model", str(tmp_path / "none.npz")],
        input=b"",
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr and b"none.npz" in proc.stderr
