"""Hostile model files: each is one ModelFileError naming the file, never a traceback, a NaN
score or an allocation of what a crafted header asks for."""

import io
import json
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from numpy.lib import format as npy

from clients.model import SpamModel
from clients.model_file import (
    MAX_WORDS,
    ModelFileError,
    SavedModel,
    load_model,
    save_model,
)
from data.vocabulary import Vocabulary
from fl_app import cli

WORDS = ["cash", "lunch", "noon", "win"]


def good_arrays(tmp_path: Path) -> dict[str, np.ndarray]:
    """The arrays of a small valid model file, to spoil one at a time."""
    vocabulary = Vocabulary(WORDS)
    weights = np.linspace(-1, 1, len(vocabulary)).reshape(-1, 1)
    path = save_model(tmp_path / "good.npz", SavedModel(SpamModel(weights), vocabulary))
    with np.load(path, allow_pickle=False) as npz:
        return dict(npz)


def npy_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    npy.write_array(out, array, allow_pickle=True)
    return out.getvalue()


def declared_only(shape: tuple[int, ...], descr: str) -> bytes:
    """A .npy header declaring ``shape`` of ``descr``, followed by no data at all."""
    out = io.BytesIO()
    npy.write_array_header_1_0(out, {"descr": descr, "fortran_order": False, "shape": shape})
    return out.getvalue()


def write_npz(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(f"{name}.npy", data)
    return path


def members_of(arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
    return {name: npy_bytes(array) for name, array in arrays.items()}


def header_of(arrays: dict[str, np.ndarray], **changes: object) -> bytes:
    header = json.loads(str(arrays["header"]))
    return npy_bytes(np.array(json.dumps({**header, **changes})))


def spoiled(arrays: dict[str, np.ndarray], case: str) -> dict[str, bytes]:
    """The members of the good file with one of them made hostile, as ``case`` says."""
    members = members_of(arrays)
    weights = arrays["weights"]
    if case == "rows beyond any vocabulary":  # 2 GiB declared, nothing stored
        members["weights"] = declared_only((2**28, 1), "<f8")
    elif case == "words beyond any vocabulary":
        members["words"] = declared_only((MAX_WORDS,), "<U1000")
    elif case == "one word of a gigabyte":
        members["words"] = declared_only((1,), f"<U{2**28}")
    elif case == "a header of a gigabyte":
        members["header"] = declared_only((), f"<U{2**28}")
    elif case == "NaN weight":
        members["weights"] = npy_bytes(np.where(weights > 0, np.nan, weights))
    elif case == "infinite weight":
        members["weights"] = npy_bytes(np.where(weights > 0, np.inf, weights))
    elif case == "object array":
        members["words"] = npy_bytes(np.array(WORDS + [None], dtype=object))
    elif case == "weights as text":
        members["weights"] = npy_bytes(weights.astype(str))
    elif case == "weights as complex numbers":
        members["weights"] = npy_bytes(weights.astype(complex))
    elif case == "weights of one dimension":
        members["weights"] = npy_bytes(weights.ravel())
    elif case == "a member that is no .npy":
        members["weights"] = b"these are not the weights"
    elif case == "a member cut short":
        members["weights"] = npy_bytes(weights)[:-8]
    elif case == "a member with bytes after its data":
        members["weights"] = npy_bytes(weights) + b"\0" * 8
    elif case == "a missing member":
        del members["words"]
    elif case == "a header that is no JSON":
        members["header"] = npy_bytes(np.array("{not json"))
    elif case == "a header nested beyond the stack":
        members["header"] = npy_bytes(np.array("[" * 100_000 + "]" * 100_000))
    elif case == "a header that is a list":
        members["header"] = npy_bytes(np.array("[1, 2]"))
    elif case == "an unknown loss":
        members["header"] = header_of(arrays, loss="hinge")
    elif case == "a bias that is no boolean":
        members["header"] = header_of(arrays, bias="yes")
    elif case == "a word twice":
        members["words"] = npy_bytes(np.array(WORDS[:-1] + WORDS[:1]))
    else:
        raise AssertionError(case)
    return members


CASES = [
    "rows beyond any vocabulary",
    "words beyond any vocabulary",
    "one word of a gigabyte",
    "a header of a gigabyte",
    "NaN weight",
    "infinite weight",
    "object array",
    "weights as text",
    "weights as complex numbers",
    "weights of one dimension",
    "a member that is no .npy",
    "a member cut short",
    "a member with bytes after its data",
    "a missing member",
    "a header that is no JSON",
    "a header nested beyond the stack",
    "a header that is a list",
    "an unknown loss",
    "a bias that is no boolean",
    "a word twice",
]


def test_the_good_file_loads(tmp_path):
    arrays = good_arrays(tmp_path)
    saved = load_model(write_npz(tmp_path / "copy.npz", members_of(arrays)))
    assert saved.vocabulary.words[1:] == tuple(WORDS)
    assert np.array_equal(saved.model.weights, arrays["weights"])


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_model_file_is_one_error_naming_it(tmp_path, case):
    path = write_npz(tmp_path / "hostile.npz", spoiled(good_arrays(tmp_path), case))
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="hostile.npz") as raised:
            load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, f"{peak} bytes allocated for {case}"
    assert raised.value.__cause__ is None  # no library exception behind it to print


def test_a_truncated_zip_is_one_error_naming_it(tmp_path):
    good_arrays(tmp_path)
    data = (tmp_path / "good.npz").read_bytes()
    for cut in (len(data) // 2, len(data) - 30):
        (tmp_path / "cut.npz").write_bytes(data[:cut])
        with pytest.raises(ModelFileError, match="cut.npz"):
            load_model(tmp_path / "cut.npz")


def test_classify_with_a_hostile_model_is_one_error_line_and_exit_2(tmp_path, capsys):
    path = write_npz(
        tmp_path / "hostile.npz", spoiled(good_arrays(tmp_path), "rows beyond any vocabulary")
    )
    assert cli.main(["classify", "--model", str(path), str(tmp_path / "none.eml")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(path) in errors[0]
