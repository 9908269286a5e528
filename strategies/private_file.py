"""Files that hold a private key: created 0600 before a byte is written, refused if others can read them."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (write, fsync, rename, fsync the folder), mode 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def read_private(path: Path, what: str) -> bytes:
    """The bytes of a private-key file.

    Raises
    ------
    ValueError
        If group or others may read it (naming the file and the fix).
    OSError
        If it cannot be read.
    """
    path = Path(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ValueError(f"{path}: {what} file has mode {oct(mode)}; expected 0600 (chmod 600 it)")
    return path.read_bytes()
