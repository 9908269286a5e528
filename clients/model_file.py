"""The trained filter as one versioned file: weights, vocabulary and how to tokenise.

A ``.npz`` holding the weights, the vocabulary's words and a JSON header:
format name and version, the tokeniser, loss and bias, the vocabulary's
fingerprint, and where the model came from (corpus, split, run, metrics).
It is read without pickle (loading runs no code) and within bounds (each
array's size is checked from its header before its data is read).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from data.loaders import TOKENIZER, tokenize
from data.vocabulary import UNKNOWN, Vocabulary
from storage.atomic_write import write_atomically

from .bounded_npz import ArraySpec, NpzError, check_array, read_npz
from .model import LOSSES, SpamModel

FORMAT = "fl-spam-model"
VERSION = 1
# The largest model read or written: 2**22 (4.2 million) words, hundreds of times the
# vocabulary of any corpus here (SMS: 8,940 words; synthetic: 20,000). The words' array
# pads every word to the longest, so it is bounded as a whole: 512 MiB holds 200,000
# words of up to 670 characters. The header is JSON: format, tokenizer, metrics.
MAX_WORDS = 2**22
MAX_WORDS_BYTES = 2**29
MAX_HEADER_CHARS = 2**20
_SPECS = {
    "header": ArraySpec("U", 0, 1, 4 * MAX_HEADER_CHARS),
    "weights": ArraySpec("f", 2, MAX_WORDS, 8 * MAX_WORDS),
    "words": ArraySpec("U", 1, MAX_WORDS - 1, MAX_WORDS_BYTES),
}


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
    """Write ``saved`` to ``path`` (``write_atomically``: a crash leaves the old file or none).

    Raises
    ------
    ModelFileError
        If the model is beyond what ``load_model`` reads (``MAX_WORDS``,
        ``MAX_WORDS_BYTES``): nothing is written.
    """
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

    arrays: dict[str, Any] = {
        "header": np.array(json.dumps(header)),
        "weights": saved.model.weights,
        "words": np.array(saved.vocabulary.words[1:], dtype=str),
    }
    try:
        for name, array in arrays.items():
            check_array(name, array.shape, array.dtype, _SPECS[name])
    except NpzError as exc:
        raise ModelFileError(
            f"{path}: not written, the model is too large to read ({exc})"
        ) from None

    def write(file: BinaryIO) -> None:
        np.savez_compressed(file, **arrays)

    write_atomically(path, write)
    return path


def load_model(path: Path) -> SavedModel:
    """Read a model file written by ``save_model``.

    Every array's kind, shape and size is checked from its header before its
    data is read (``read_npz``), so a crafted file cannot make this allocate
    more than ``MAX_WORDS`` words of weights and ``MAX_WORDS_BYTES`` of words.

    Raises
    ------
    ModelFileError
        If the file is missing or unreadable, no zip of the expected arrays,
        an array is of another kind or shape or beyond those bounds, of
        another format or version, made with another tokeniser, its header
        is malformed, its weights are not finite, or they do not match its
        vocabulary. The message names the file.
    """
    path = Path(path).expanduser()
    try:
        arrays = read_npz(path, _SPECS)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except OSError as exc:
        raise ModelFileError(
            f"{path}: cannot be read ({exc.strerror or exc}) — check the path"
        ) from None
    except NpzError as exc:
        raise ModelFileError(f"{path}: not an fl-spam model file ({exc})") from None
    header = _header(path, str(arrays["header"][()]))
    weights = np.array(arrays["weights"], dtype=np.float64)
    if not np.isfinite(weights).all():
        raise ModelFileError(
            f"{path}: {int((~np.isfinite(weights)).sum())} weight(s) are NaN or infinite: "
            "the file is damaged — train the model again"
        )
    words = [str(w) for w in arrays["words"]]
    try:
        vocabulary = Vocabulary(w for w in words if w != UNKNOWN)
    except ValueError:  # a word twice: no vocabulary fl-spam writes
        vocabulary = None
    if (
        vocabulary is None
        or vocabulary.fingerprint() != header.get("vocabulary_fingerprint")
        or weights.shape != (len(vocabulary), 1)
    ):
        raise ModelFileError(
            f"{path}: its weights ({weights.shape[0]} rows) do not match its vocabulary "
            f"({len(words) + 1} words, fingerprint checked): the file is damaged"
        )
    about = {
        k: v
        for k, v in header.items()
        if k not in ("format", "version", "tokenizer", "loss", "bias", "vocabulary_fingerprint")
    }
    return SavedModel(SpamModel(weights, header["loss"], header["bias"]), vocabulary, about)


def _header(path: Path, text: str) -> dict[str, Any]:
    """The JSON header of model file ``path``, checked: format, version, tokenizer, loss, bias.

    Raises
    ------
    ModelFileError
        Naming the file and what is wrong.
    """
    try:
        header = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested beyond Python's stack
        raise ModelFileError(f"{path}: not an fl-spam model file (its header: {exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        found = header.get("format") if isinstance(header, dict) else type(header).__name__
        raise ModelFileError(f"{path}: not an fl-spam model file (format {found!r})")
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
    if header.get("loss") not in LOSSES or not isinstance(header.get("bias"), bool):
        raise ModelFileError(
            f"{path}: its header has loss {header.get('loss')!r} and bias "
            f"{header.get('bias')!r}; expected one of {LOSSES} and true or false: "
            "the file is damaged"
        )
    return header
