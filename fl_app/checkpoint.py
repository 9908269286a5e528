"""Server checkpoints: global weights, round, config and vocabulary, written atomically."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from storage.atomic_write import write_atomically

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
    """Write ``checkpoint.npz`` in ``directory`` (created if missing) with ``write_atomically``."""
    meta = {
        "format": FORMAT_VERSION,
        "server_round": checkpoint.server_round,
        "config": checkpoint.config,
        "vocabulary_fingerprint": checkpoint.vocabulary_fingerprint,
        "history": checkpoint.history,
        "num_arrays": len(checkpoint.arrays),
    }
    # Any: typed as arrays, **members would be checked against the stubs' keyword
    # allow_pickle: bool (NumPy >= 2.1), which is not passed since NumPy 1.26 lacks it.
    members: dict[str, Any] = {
        "meta": np.array(json.dumps(meta)),
        **{f"array_{i}": a for i, a in enumerate(checkpoint.arrays)},
    }

    def write(file: BinaryIO) -> None:
        np.savez(file, **members)

    target = Path(directory) / CHECKPOINT_FILE
    write_atomically(target, write)
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
            f"{path}: written for another vocabulary (fingerprint "
            f"{meta['vocabulary_fingerprint'][:12]}..., this corpus has "
            f"{vocabulary_fingerprint[:12]}...); its weights would mean other words."
        )
    return Checkpoint(
        int(meta["server_round"]),
        arrays,
        meta["config"],
        meta["vocabulary_fingerprint"],
        list(meta.get("history", [])),
    )
