"""Atomic, durable file writes: temporary file, fsync, replace, fsync the folder."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

# Attempts at a free temporary name (8 random hex digits each) before giving up.
_NAME_ATTEMPTS = 16


def write_atomically(
    path: str | os.PathLike[str],
    content: bytes | Callable[[BinaryIO], object],
    mode: int = 0o644,
) -> None:
    """Write ``path`` so that a crash leaves the old file or the new one, never a mix.

    The bytes go to a new temporary file in the same folder (created with
    ``O_EXCL`` and ``mode``, so a 0o600 file is never readable by others,
    not even for a moment), which is flushed and fsynced, then moved onto
    ``path`` with ``os.replace``; last the folder is fsynced so that the
    rename itself survives a power loss. Missing folders are created, and
    each one fsynced into its parent the same way.

    Parameters
    ----------
    path : str | os.PathLike[str]
        The file to write; replaced if it exists.
    content : bytes | Callable[[BinaryIO], object]
        The bytes to write, or a function that writes them to the open binary
        file it is given (for writers such as ``np.savez``); it must not close
        it, and what it returns is ignored.
    mode : int
        Permission bits of the new file, reduced by the umask as usual
        (0o600 for a private key).

    Raises
    ------
    OSError
        If the folder, the temporary file or the replace fails; the temporary
        file is removed and an existing ``path`` is left untouched. An error
        fsyncing the folder after the replace is raised too: ``path`` then
        holds the new content, but may not survive a power loss.
    Exception
        Whatever ``content`` raises when it is a function, with the same cleanup.
    """
    target = Path(path)
    _make_folder(target.parent)
    fd, temporary = _create_temporary(target, mode)
    try:
        with os.fdopen(fd, "wb") as file:
            if callable(content):
                content(file)
            else:
                file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync(target.parent)


def replace_durably(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Move the already written file ``source`` onto ``target`` durably.

    ``source`` is fsynced, moved with ``os.replace``, then the folder is
    fsynced, as in ``write_atomically`` (for a file written in pieces, such
    as a download, that cannot be handed over as one ``content``).

    Parameters
    ----------
    source : str | os.PathLike[str]
        The complete file, in the same folder as ``target``.
    target : str | os.PathLike[str]
        Where it goes; replaced if it exists.

    Raises
    ------
    ValueError
        If ``source`` and ``target`` are in different folders (one folder
        fsync would not make the move durable).
    OSError
        If ``source`` cannot be fsynced or moved (``source`` is then left
        where it is and ``target`` untouched), or the folder cannot be fsynced.
    """
    source, target = Path(source), Path(target)
    if source.parent.resolve() != target.parent.resolve():
        raise ValueError(f"{source} -> {target}: a durable replace stays in one folder")
    _fsync(source)
    os.replace(source, target)
    _fsync(target.parent)


def _create_temporary(target: Path, mode: int) -> tuple[int, Path]:
    """Create a new, empty, uniquely named file beside ``target``; its fd and path."""
    for _ in range(_NAME_ATTEMPTS):
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), temporary
        except FileExistsError:
            continue
    raise FileExistsError(f"{target}: no free temporary name after {_NAME_ATTEMPTS} attempts")


def _make_folder(folder: Path) -> None:
    """Create ``folder`` and missing parents, fsyncing each new one into its parent."""
    if folder.is_dir():
        return
    _make_folder(folder.parent)
    try:
        folder.mkdir()
    except FileExistsError:
        return  # made meanwhile by someone else (or a file: then opening in it fails)
    _fsync(folder.parent)


def _fsync(path: Path) -> None:
    """Fsync a file or folder by name: a folder's fsync makes the names created or replaced
    in it durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
