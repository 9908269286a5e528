"""What kind of thing a corpus path is, and what kind of data a corpus file holds.

Loaders ask here before they read: a FIFO must not be opened (the open blocks
until some other process writes to it) and a device must not be read
(``/dev/zero`` never ends), so a path's kind comes from ``os.stat`` alone. A
file's first bytes then tell UTF-8 text from UTF-16/32 text and from binary
data, which otherwise reach the user as a label of NUL bytes or a dump of the
file. Every error is a ``CorpusError`` of one line: the path, what was found,
what was expected and what to do.
"""

from __future__ import annotations

import codecs
import os
import shlex
import stat
from pathlib import Path

from .corpus import CorpusError

# The bytes a file's kind of data is judged on: enough for a few lines of text.
SAMPLE_BYTES = 8192
# Kinds a path can name that are neither a file nor a folder, by their stat test.
_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a device (character device)"),
    (stat.S_ISBLK, "a device (block device)"),
)
# Longest BOM first: UTF-32-LE's BOM starts with UTF-16-LE's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)
# Share of the sample's bytes at one position (of 2 or 4) that must be NUL to call
# it UTF-16/32 without a BOM: UTF-16 text in the ASCII range has a NUL at every
# other byte, UTF-32 text below U+10000 two in every four. (UTF-16 without a BOM
# in a non-Latin script has no NULs to tell it by: its bytes then read as binary
# or as 8-bit text.)
_WIDE_NUL_SHARE = 0.6
# Control bytes (not TAB, LF, VT, FF, CR nor ESC) are rare in text and common in
# binary data: past this share of the sample, a file without NULs is binary too.
_CONTROL_SHARE = 0.05
_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\x0b\x0c\r\x1b") + b"\x7f"


def path_kind(path: Path) -> str:
    """What ``path`` names, found without opening it.

    Parameters
    ----------
    path : Path
        Any path; symbolic links are followed.

    Returns
    -------
    str
        ``"missing"``, ``"file"``, ``"folder"``, or for anything else a
        description such as ``"a FIFO (named pipe)"`` or
        ``"a device (character device)"``.

    Raises
    ------
    CorpusError
        If ``path`` cannot be looked at (a folder on the way is not readable,
        a loop of links).
    """
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except PermissionError as exc:
        raise CorpusError(permission_denied(path, exc)) from exc
    except OSError as exc:
        raise CorpusError(
            f"{path}: cannot be looked at ({exc.strerror or exc}) — check the path"
        ) from exc
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    return next((kind for test, kind in _SPECIAL_KINDS if test(mode)), "an unknown kind of file")


def permission_denied(path: Path, exc: OSError | None = None) -> str:
    """The one-line message for a file or folder that may not be read.

    Parameters
    ----------
    path : Path
        The path the loader was reading.
    exc : OSError | None
        The ``PermissionError``; its ``filename``, when set, is the path named
        (a file inside ``path``, say).
    """
    named = exc.filename if exc is not None and exc.filename else path
    return f"{named}: permission denied — make it readable (chmod) or move it out of the corpus"


def require(path: Path, expected: str, want: str = "file", fix: str | None = None) -> None:
    """Raise unless ``path`` is what a loader can read: a file, a folder, or either.

    Parameters
    ----------
    path : Path
        The path given to the loader.
    expected : str
        What the loader expects there, for the message: "a file of label<TAB>text lines".
    want : str
        ``"file"``, ``"folder"`` or ``"file or folder"``.
    fix : str | None
        What to do when ``path`` is not what is wanted, in place of the advice
        for a path the user gave (e.g. "move it out of the corpus" for a file
        found inside a corpus folder).

    Raises
    ------
    CorpusError
        If ``path`` is missing, is a FIFO, socket or device, or is a folder
        where a file is wanted (or the reverse); the message says what to do.
    """
    kind = path_kind(path)
    if kind in want.split(" or "):
        return
    if kind == "missing":
        advice = "check the path"
        found = "no such file or folder"
    elif kind == "folder":
        advice = "pass the file itself, not the folder that holds it"
        found = "is a folder"
    elif kind == "file":
        advice = "pass the folder that holds the corpus, not a file in it"
        found = "is a file"
    else:
        advice = f"pass a regular {want}"
        if kind.startswith("a FIFO") and "file" in want:
            advice += " (write the piped data to a file first)"
        found = f"is {kind}, not a file or folder"
    raise CorpusError(f"{path}: {found}; expected {expected} — {advice if fix is None else fix}")


def read_file(path: Path, expected: str, fix: str | None = None) -> bytes:
    """The bytes of the file ``path``, after ``require`` has said it is one.

    Parameters
    ----------
    path : Path
        The file.
    expected, fix : str, str | None
        What the loader expects there and what to do if it is not (see ``require``).

    Raises
    ------
    CorpusError
        As ``require`` does, or if the file cannot be read (permission denied).
    """
    require(path, expected, "file", fix)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise read_error(path, exc, expected) from exc


def read_error(path: Path, exc: OSError, expected: str) -> CorpusError:
    """The error for the file ``path`` that could not be read: permission denied, or the OS
    error (an I/O error, say) with ``expected``, what the loader expects there."""
    if isinstance(exc, PermissionError):
        return CorpusError(permission_denied(path, exc))
    return CorpusError(
        f"{path}: cannot be read ({exc.strerror or exc}); expected {expected} — "
        "check the file and its disk"
    )


def wide_encoding(data: bytes) -> str | None:
    """The UTF-16 or UTF-32 encoding ``data`` starts in, or None.

    Told by a byte-order mark, or without one by NUL bytes at every second
    position (UTF-16 text in the ASCII range) or at two of every four (UTF-32),
    and in either case by the first ``SAMPLE_BYTES`` decoding to text.

    Returns
    -------
    str | None
        An encoding name as ``iconv -f`` takes it: ``"UTF-16"`` (with a BOM),
        ``"UTF-16LE"``, ``"UTF-32BE"``, ...; None for anything else.
    """
    sample = data[:SAMPLE_BYTES]
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name if _reads_as_text(sample, name) else None
    if b"\x00" not in sample:
        return None
    quarters = [sample[i::4].count(0) / max(1, len(sample[i::4])) for i in range(4)]
    halves = [sample[i::2].count(0) / max(1, len(sample[i::2])) for i in range(2)]
    candidates = []
    # The two high bytes of every UTF-32 unit are NUL for any character below U+10000.
    if quarters[2] >= _WIDE_NUL_SHARE and quarters[3] >= _WIDE_NUL_SHARE:
        candidates.append("UTF-32LE")
    if quarters[0] >= _WIDE_NUL_SHARE and quarters[1] >= _WIDE_NUL_SHARE:
        candidates.append("UTF-32BE")
    for nul_at, name in ((1, "UTF-16LE"), (0, "UTF-16BE")):
        if halves[nul_at] >= _WIDE_NUL_SHARE and halves[1 - nul_at] < _WIDE_NUL_SHARE / 2:
            candidates.append(name)
    # NULs in a pattern are not enough: binary formats (ELF, say) are full of
    # zero-padded fields. Text it is only if it also decodes to text.
    return next((name for name in candidates if _reads_as_text(sample, name)), None)


def _reads_as_text(sample: bytes, encoding: str) -> bool:
    """True when ``sample`` decodes in ``encoding`` to text with next to no control characters."""
    unit = 4 if encoding.startswith("UTF-32") else 2
    # Cut at a whole code unit; a character split at the cut is one error at most.
    text = sample[: len(sample) - len(sample) % unit].decode(encoding, errors="replace")
    bad = sum(1 for c in text if c == "\ufffd" or (c < " " and c not in "\t\n\x0b\x0c\r\x1b"))
    return bool(text) and bad <= 1 + _CONTROL_SHARE * len(text)


def is_binary(data: bytes) -> bool:
    """True when ``data``'s first bytes are no text in any 8-bit encoding or UTF-8.

    Call ``wide_encoding`` first: UTF-16/32 text is full of NUL bytes too. A
    NUL byte, or more than a few other control bytes, says binary. Bytes that
    are not UTF-8 do not: text in latin-1 or windows-1251 is full of them.
    """
    sample = data[:SAMPLE_BYTES]
    if b"\x00" in sample:
        return True
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return bool(sample) and controls / len(sample) > _CONTROL_SHARE


def check_text(path: Path | str, data: bytes, expected: str, binary: bool = True) -> None:
    """Raise unless ``data``, the content of ``path``, can be read as UTF-8 (or 8-bit) text.

    Parameters
    ----------
    path : Path | str
        The file, for the message.
    data : bytes
        Its content (only the first ``SAMPLE_BYTES`` are looked at).
    expected : str
        What the loader expects there: "a file of label<TAB>text lines".
    binary : bool
        Also refuse binary data (see ``is_binary``); False checks for UTF-16/32 only.

    Raises
    ------
    CorpusError
        If ``data`` is UTF-16 or UTF-32 text (the message gives the ``iconv``
        command that converts it) or binary data.
    """
    path = Path(path)
    encoding = wide_encoding(data)
    if encoding is not None:
        fixed = shlex.quote(f"{path.stem}-utf8{path.suffix}")
        raise CorpusError(
            f"{path}: is {encoding} text, not UTF-8; expected {expected} — convert it: "
            f"iconv -f {encoding} -t UTF-8 {shlex.quote(str(path))} > {fixed}"
        )
    if binary and is_binary(data):
        sign = "NUL bytes" if b"\x00" in data[:SAMPLE_BYTES] else "control bytes"
        raise CorpusError(
            f"{path}: is not a text file (binary data: {sign} in its first "
            f"{SAMPLE_BYTES // 1024} KiB); expected {expected}, as UTF-8 text — pass the "
            "corpus's text file, not a program, archive or document"
        )


def decode_text(path: Path, data: bytes, expected: str) -> str:
    """``data``, the content of ``path``, as UTF-8 (a BOM dropped), refused when it is not.

    Raises
    ------
    CorpusError
        As ``check_text`` does, or naming the line of the first byte that is
        not UTF-8, with a short ``repr`` of it.
    """
    check_text(path, data, expected)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        found = data[exc.start : exc.start + 4]
        raise CorpusError(
            f"{path}:{line}: bytes {found!r} are not UTF-8; expected {expected}, as UTF-8 text "
            f"— convert it: iconv -f <its encoding, e.g. CP1252> -t UTF-8 {shlex.quote(str(path))}"
            f" > {shlex.quote(f'{path.stem}-utf8{path.suffix}')}"
        ) from exc
