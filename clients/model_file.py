"""The trained filter as one versioned file: weights, vocabulary and how to tokenise.

A ``.npz`` (read with ``allow_pickle=False``, so loading runs no code) holding
the weights, the vocabulary's words and a JSON header: format name and
version, the tokeniser, loss and bias, the vocabulary's fingerprint, and
where the model came from (corpus, split, run, metrics).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from data.loaders import TOKENIZER, tokenize
from data.vocabulary import UNKNOWN, Vocabulary
from storage.atomic_write import write_atomically

from .model import SpamModel

FORMAT = "fl-spam-model"
VERSION = 1


class ModelFileError(ValueError):
    """A model file that cannot be used: the message names the file and why."""


@dataclass
class SavedModel:
    """A spam model with the vocabulary its rows mean, and where it came from."""

    model: SpamModel
    vocabulary: Vocabulary
    about: dict[str, Any] = field(default_factory=dict)

    def scores(self, texts: list[str]) -> np.ndarray:
        """Spam probability of every message text."""
        emails = self.vocabulary.encode([tokenize(t) for t in texts], [0] * len(texts))
        return self.model.predict(emails)


def save_model(path: Path, saved: SavedModel) -> Path:
    """Write ``saved`` to ``path`` (``write_atomically``: a crash leaves the old file or none)."""
    path = Path(path).expanduser()
    header = {
        "format": FORMAT,
        "version": VERSION,
        "tokenizer": TOKENIZER,
        "loss": saved.model.loss,
        "bias": saved.model.bias,
        "vocabulary_fingerprint": saved.vocabulary.fingerprint(),
        **saved.about,
    }

    def write(file: BinaryIO) -> None:
        np.savez_compressed(
            file,
            header=np.array(json.dumps(header)),
            weights=saved.model.weights,
            words=np.array(saved.vocabulary.words[1:], dtype=str),
        )

    write_atomically(path, write)
    return path


def load_model(path: Path) -> SavedModel:
    """Read a model file written by ``save_model``.

    Raises
    ------
    ModelFileError
        If the file is missing or unreadable, of another format or version,
        made with another tokeniser, or its weights do not match its vocabulary.
    """
    path = Path(path).expanduser()
    try:
        with np.load(path, allow_pickle=False) as npz:
            header = json.loads(str(npz["header"]))
            weights, words = (
                np.array(npz["weights"], dtype=np.float64),
                [str(w) for w in npz["words"]],
            )
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"{path}: not an fl-spam model file ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not an fl-spam model file (format {header.get('format')!r})")
    if header.get("version") != VERSION:
        raise ModelFileError(
            f"{path}: model file version {header.get('version')!r}; this fl-spam reads "
            f"version {VERSION}: train it again with this version"
        )
    if header.get("tokenizer") != TOKENIZER:
        raise ModelFileError(
            f"{path}: made with tokenizer {header.get('tokenizer')!r}, this fl-spam "
            f"uses {TOKENIZER!r}: its words would mean something else"
        )
    vocabulary = Vocabulary(w for w in words if w != UNKNOWN)
    if vocabulary.fingerprint() != header.get("vocabulary_fingerprint") or weights.shape != (
        len(vocabulary),
        1,
    ):
        raise ModelFileError(
            f"{path}: its weights ({weights.shape[0]} rows) do not match its vocabulary "
            f"({len(vocabulary)} words, fingerprint checked): the file is damaged"
        )
    about = {
        k: v
        for k, v in header.items()
        if k not in ("format", "version", "tokenizer", "loss", "bias", "vocabulary_fingerprint")
    }
    return SavedModel(
        SpamModel(weights, str(header["loss"]), bool(header["bias"])), vocabulary, about
    )
