"""Private-key files: created 0600 before a byte is written, refused if others can read them."""

from __future__ import annotations

import stat
from pathlib import Path

from storage.atomic_write import write_atomically


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with ``write_atomically``, mode 0600 from its creation."""
    write_atomically(path, data, mode=0o600)


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
