"""The arrays of an ``.npz`` file, each checked from its ``.npy`` header before its data is read.

``np.load`` allocates whatever shape a member's header declares before it
reads a byte of data, and inflates whatever a member holds: a few hundred
bytes of crafted zip can ask for gigabytes. Here each wanted member's header
is read first, and its kind of data, its number of dimensions, its number of
items and its size in bytes must be within what the caller expects; only
then is its data read, exactly as many bytes as the header declares and the
zip directory agrees with (so its CRC is checked too). Nothing is unpickled.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.lib import format as npy

# What reading a damaged or crafted zip or .npy raises, besides our own NpzError.
_MALFORMED = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    ValueError,  # numpy: a header it cannot parse
    NotImplementedError,  # zipfile: a compression method it lacks
    RuntimeError,  # zipfile: an encrypted member
)
# Longest library message shown: enough to recognise, never a dump of the file.
_SHOWN_CHARS = 200
_HEADER_READERS: dict[tuple[int, int], Callable[[IO[bytes]], tuple[Any, bool, np.dtype]]] = {
    (1, 0): npy.read_array_header_1_0,
    (2, 0): npy.read_array_header_2_0,
}


class NpzError(ValueError):
    """An ``.npz`` that is damaged, or holds other arrays than expected; the message says which."""


@dataclass(frozen=True)
class ArraySpec:
    """What one array of the file may be.

    Parameters
    ----------
    kinds : str
        The numpy dtype kinds accepted: ``"f"`` floating point, ``"U"`` text.
    ndim : int
        Its number of dimensions.
    max_items : int
        The most items it may hold.
    max_bytes : int
        The most bytes its data may take in memory.
    """

    kinds: str
    ndim: int
    max_items: int
    max_bytes: int


def read_npz(path: Path, specs: Mapping[str, ArraySpec]) -> dict[str, np.ndarray]:
    """The arrays named in ``specs``, each read only after its header passed its spec.

    Parameters
    ----------
    path : Path
        The ``.npz`` file (as ``np.savez`` and ``np.savez_compressed`` write it).
    specs : Mapping[str, ArraySpec]
        Array name (the member without ``.npy``) -> what it may be. Other members are not read.

    Returns
    -------
    dict[str, np.ndarray]
        Name -> array (read-only).

    Raises
    ------
    NpzError
        If the file is no zip, a member is missing, no ``.npy`` or damaged,
        or an array is of another kind, shape or size than its spec allows.
    OSError
        If the file cannot be opened or read.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            return {name: _read_member(archive, name, spec) for name, spec in specs.items()}
    except NpzError:
        raise
    except _MALFORMED as exc:
        detail = str(exc)  # numpy quotes a header it cannot parse: up to 10,000 characters
        shown = detail if len(detail) <= _SHOWN_CHARS else detail[: _SHOWN_CHARS - 3] + "..."
        raise NpzError(f"{type(exc).__name__}: {shown}") from exc


def _read_member(archive: zipfile.ZipFile, name: str, spec: ArraySpec) -> np.ndarray:
    """Array ``name`` of ``archive``: its header checked against ``spec``, then its data."""
    try:
        info = archive.getinfo(f"{name}.npy")
    except KeyError:
        raise NpzError(f"no array {name!r}") from None
    with archive.open(info) as member:
        version = npy.read_magic(member)
        if version not in _HEADER_READERS:
            raise NpzError(f"{name}: .npy format version {version}; expected 1.0 or 2.0")
        shape, fortran_order, dtype = _HEADER_READERS[version](member)
        items = check_array(name, shape, dtype, spec)
        size = items * dtype.itemsize
        stored = info.file_size - member.tell()
        if stored != size:
            raise NpzError(f"{name}: holds {stored} bytes of data, its header declares {size}")
        data = member.read(size)
        if len(data) != size:
            raise NpzError(f"{name}: truncated, {len(data)} of {size} bytes")
    flat = np.frombuffer(data, dtype=dtype, count=items)
    return flat.reshape(tuple(shape), order="F" if fortran_order else "C")


def check_array(name: str, shape: tuple[int, ...], dtype: np.dtype, spec: ArraySpec) -> int:
    """The number of items of an array of ``shape`` and ``dtype``, refused unless within ``spec``.

    Parameters
    ----------
    name : str
        The array's name, for the message.
    shape : tuple[int, ...]
        Its shape, as its header declares it.
    dtype : np.dtype
        Its dtype, as its header declares it.
    spec : ArraySpec
        What it may be.

    Returns
    -------
    int
        Its number of items.

    Raises
    ------
    NpzError
        If its kind, number of dimensions, items or bytes are not what ``spec`` allows.
    """
    if dtype.kind not in spec.kinds or dtype.hasobject or dtype.itemsize == 0:
        raise NpzError(f"{name}: holds {dtype}; expected a dtype of kind {spec.kinds!r}")
    if len(shape) != spec.ndim or any(d < 0 for d in shape):
        raise NpzError(f"{name}: has shape {shape}; expected {spec.ndim} dimension(s)")
    items = math.prod(shape)
    if items > spec.max_items or items * dtype.itemsize > spec.max_bytes:
        raise NpzError(
            f"{name}: declares {items} items of {dtype} ({items * dtype.itemsize} bytes); "
            f"expected at most {spec.max_items} items and {spec.max_bytes} bytes"
        )
    return items
