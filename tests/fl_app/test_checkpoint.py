"""Checkpoints and the persisted Paillier key: atomic, checked, owner-only."""

import os
import stat

import numpy as np
import pytest

from fl_app.checkpoint import (
    CHECKPOINT_FILE,
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from strategies.keys import generate_keypair, load_keypair, save_keypair


def test_checkpoint_round_trips(tmp_path):
    arrays = [np.arange(6.0).reshape(3, 2)]
    save_checkpoint(
        tmp_path, Checkpoint(4, arrays, {"lr": 0.01}, "abc", [{"round": 4, "accuracy": 0.9}])
    )
    loaded = load_checkpoint(tmp_path, "abc")
    assert loaded.server_round == 4 and loaded.config == {"lr": 0.01}
    np.testing.assert_array_equal(loaded.arrays[0], arrays[0])
    assert loaded.history == [{"round": 4, "accuracy": 0.9}]
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_a_checkpoint_of_another_vocabulary_is_refused(tmp_path):
    save_checkpoint(tmp_path, Checkpoint(1, [np.zeros(3)], {}, "aaaa" * 16))
    with pytest.raises(CheckpointError, match="written for another vocabulary"):
        load_checkpoint(tmp_path, "bbbb" * 16)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "missing"])
def test_truncated_corrupt_or_missing_checkpoints_are_refused_clearly(tmp_path, damage):
    save_checkpoint(tmp_path, Checkpoint(1, [np.zeros(1000)], {}, "abc"))
    path = tmp_path / CHECKPOINT_FILE
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:300])
    elif damage == "garbage":
        path.write_bytes(b"not a checkpoint at all")
    else:
        path.unlink()
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path, "abc")
    assert str(path) in str(info.value)


def test_the_private_key_file_is_owner_only_and_round_trips(tmp_path):
    pub, priv = generate_keypair()
    path = tmp_path / "keys" / "paillier.json"
    save_keypair(path, priv)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded_pub, loaded_priv = load_keypair(path)
    assert loaded_pub.n == pub.n and loaded_priv.p == priv.p


def test_a_key_file_others_can_read_or_a_wrong_key_is_refused(tmp_path):
    _, priv = generate_keypair()
    path = tmp_path / "paillier.json"
    save_keypair(path, priv)
    os.chmod(path, 0o644)
    with pytest.raises(ValueError, match="expected 0600"):
        load_keypair(path)
    os.chmod(path, 0o600)
    path.write_text(path.read_text().replace('"p": "', '"p": "1'))
    os.chmod(path, 0o600)
    with pytest.raises(ValueError, match="p and q do not match n"):
        load_keypair(path)


def test_the_server_reuses_the_key_in_key_file_across_restarts(tmp_path):
    from fl_app.config import RunConfig
    from fl_app.server_app import server_keypair

    cfg = RunConfig(aggregation="paillier", key_file=str(tmp_path / "paillier.json"))
    first, again = server_keypair(cfg), server_keypair(cfg)
    assert first[0].n == again[0].n and first[1].p == again[1].p
    assert stat.S_IMODE((tmp_path / "paillier.json").stat().st_mode) == 0o600
    assert server_keypair(RunConfig()) is None  # no key-file: a fresh key in memory
