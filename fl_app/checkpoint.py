"""Server checkpoints: global weights, round, config and vocabulary, written atomically."""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CHECKPOINT_FILE = "checkpoint.npz"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint cannot be used: missing, corrupt, or from another vocabulary."""


@dataclass
class Checkpoint:
    """What the server needs to continue a run after the round it was written."""

    server_round: int
    arrays: list[np.ndarray]
    config: dict
    vocabulary_fingerprint: str
    history: list[dict] = field(default_factory=list)


def save_checkpoint(directory: Path, checkpoint: Checkpoint) -> Path:
    """Write ``checkpoint.npz`` in ``directory``: write a temporary file, fsync, rename."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT_VERSION,
        "server_round": checkpoint.server_round,
        "config": checkpoint.config,
        "vocabulary_fingerprint": checkpoint.vocabulary_fingerprint,
        "history": checkpoint.history,
        "num_arrays": len(checkpoint.arrays),
    }
    buffer = io.BytesIO()
    np.savez(
        buffer,
        meta=np.array(json.dumps(meta)),
        **{f"array_{i}": a for i, a in enumerate(checkpoint.arrays)},
    )
    target = directory / CHECKPOINT_FILE
    tmp = directory / f".{CHECKPOINT_FILE}.tmp"
    with tmp.open("wb") as f:
        f.write(buffer.getvalue())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)
    return target


def load_checkpoint(directory: Path, vocabulary_fingerprint: str) -> Checkpoint:
    """Read the checkpoint in ``directory`` and check it belongs to this vocabulary.

    Raises
    ------
    CheckpointError
        If it is missing, truncated or corrupt, or was written for another
        vocabulary (its weights would mean different words).
    """
    path = Path(directory) / CHECKPOINT_FILE
    if not path.exists():
        raise CheckpointError(f"{path}: no checkpoint to resume from; run without resume first.")
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            arrays = [np.array(data[f"array_{i}"]) for i in range(int(meta["num_arrays"]))]
    except (
        OSError,
        ValueError,
        KeyError,
        zipfile.BadZipFile,
        json.JSONDecodeError,
        EOFError,
    ) as exc:
        raise CheckpointError(
            f"{path}: truncated or corrupt checkpoint ({exc}); delete it to start over."
        ) from exc
    if meta.get("format") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {meta.get('format')}, expected {FORMAT_VERSION}."
        )
    if meta["vocabulary_fingerprint"] != vocabulary_fingerprint:
        raise CheckpointError(
            f"{path}: written for another vocabulary (fingerprint {meta['vocabulary_fingerprint'][:12]}..., "
            f"this corpus has {vocabulary_fingerprint[:12]}...); its weights would mean other words."
        )
    return Checkpoint(
        int(meta["server_round"]),
        arrays,
        meta["config"],
        meta["vocabulary_fingerprint"],
        list(meta.get("history", [])),
    )
