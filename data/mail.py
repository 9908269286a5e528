"""Real mail as mail owners keep it: RFC 822 messages in .eml files, mbox files and Maildirs."""

from __future__ import annotations

import codecs
import email
import email.errors
import email.message
import email.policy
import logging
import mailbox
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .corpus import CorpusError
from .file_kind import (
    SAMPLE_BYTES,
    is_binary,
    path_kind,
    permission_denied,
    read_error,
    require,
    wide_encoding,
)
from .html_text import html_text

log = logging.getLogger(__name__)

EML_SUFFIX = ".eml"
# An mbox file (RFC 4155) and every message in it start with a "From " line.
MBOX_SEPARATOR = b"From "
# The name a Maildir's own top folder gets (IMAP calls it INBOX).
MAILDIR_ROOT_NAME = "INBOX"
# Declared charsets decoded as the superset mail clients and browsers use for
# them (WHATWG Encoding Standard): mail labelled iso-8859-1 often holds
# windows-1252 quotes, gb2312 GBK characters, and so on.
_CHARSET_SUPERSETS = {
    "iso8859-1": "cp1252",
    "iso8859-9": "cp1254",
    "iso8859-11": "cp874",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "euc_kr": "cp949",
    "shift_jis": "cp932",
}
# Tried after the declared charset, each strictly; latin-1 never fails.
_FALLBACK_CHARSETS = ("utf-8", "cp1252")
_LAST_RESORT_CHARSET = "latin-1"
# What is done with a message that cannot be read: called with its source and why.
SkipHandler = Callable[[str, str], None]
_HEADER_LINE = re.compile(rb"^[!-9;-~]+:")
_BOUNDARY_LINE = re.compile(rb"^--([!-~]+?)(?:--)?[ \t]*\r?$", re.MULTILINE)


def _text_codec(charset: str | None) -> str | None:
    """The text encoding a declared ``charset`` names, as the message is decoded with it.

    Parameters
    ----------
    charset : str | None
        The ``charset`` parameter of a part, as the sender wrote it.

    Returns
    -------
    str | None
        The codec's name (its superset, see ``_CHARSET_SUPERSETS``); None for
        no charset, an unknown one, or a codec that is no text encoding
        (``rot13``, ``hex``, ``base64``, ``zlib``...): the sender's choice of
        one is never run on the data.
    """
    if not charset:
        return None
    try:
        info = codecs.lookup(charset)
    except (LookupError, ValueError):  # ValueError: a NUL or lone surrogate in the name
        return None
    if not getattr(info, "_is_text_encoding", True):
        return None
    return _CHARSET_SUPERSETS.get(info.name, info.name)


def _decode_first(data: bytes, charset: str | None, fallbacks: tuple[str, ...]) -> str | None:
    """``data`` in the declared charset, else the first of ``fallbacks`` that fits (or None)."""
    declared = _text_codec(charset)
    for candidate in (*([declared] if declared else []), *fallbacks):
        try:
            return data.decode(candidate)
        except UnicodeError:  # UnicodeDecodeError, or "undefined" refusing everything
            continue
    return None


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """``data`` as text: the declared charset, then UTF-8, then windows-1252, then latin-1."""
    text = _decode_first(data, charset, _FALLBACK_CHARSETS)
    return data.decode(_LAST_RESORT_CHARSET) if text is None else text


def _decode_strict(data: bytes, charset: str | None) -> str | None:
    """``data`` as text in the declared charset or UTF-8; None means neither fits."""
    return _decode_first(data, charset, _FALLBACK_CHARSETS[:1])


def _header_text(message: email.message.Message, name: str, charset: str | None) -> str:
    """A header's text, also when it holds raw 8-bit bytes instead of encoded words."""
    raw = next((value for key, value in message.raw_items() if key.lower() == name), None)
    if raw is None:
        return ""
    raw = " ".join(raw.split())
    try:
        raw.encode("ascii")
    except UnicodeEncodeError:
        # The parser keeps undecodable bytes as surrogates and the header
        # object turns them into U+FFFD; decode them as the body is decoded.
        return _decode_bytes(raw.encode("ascii", "surrogateescape"), charset)
    try:
        return str(message[name] or "")
    except Exception:  # the email package's header parser has raised on odd input
        return raw


def _body_charset(message: email.message.Message) -> str | None:
    """The charset of the first text part, the best guess for raw bytes in headers."""
    for part in message.walk():
        if part.get_content_maintype() == "text" and (charset := part.get_content_charset()):
            return charset
    return None


def _leaf_text(part: email.message.Message, as_plain: bool = False) -> str:
    """The text of one non-multipart part ("" when it is not a text body)."""
    if part.get_content_disposition() == "attachment":
        return ""
    kind = "text/plain" if as_plain else part.get_content_type()
    if kind not in ("text/plain", "text/html"):
        return ""
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    charset = part.get_content_charset()
    if any(isinstance(d, email.errors.InvalidBase64CharactersDefect) for d in part.defects):
        # Stray characters in base64 are usually harmless (trailing blanks),
        # but a part that is no base64 at all decodes to noise: keep the
        # part only if what came out is text in its own charset or UTF-8.
        strict_text = _decode_strict(data, charset)
        if strict_text is None:
            raise ValueError(f"{kind} part is not valid base64")
        text = strict_text
    else:
        text = _decode_bytes(data, charset)
    return html_text(text) if kind == "text/html" else text


def _recovered_multipart(part: email.message.Message) -> email.message.Message | None:
    """A multipart part whose boundary is missing or wrong, parsed with the one its body uses."""
    body = part.get_payload(decode=True)
    if not isinstance(body, bytes) or not (found := _BOUNDARY_LINE.search(body)):
        return None
    boundary = found.group(1).replace(b'"', b"")
    header = b"Content-Type: " + part.get_content_type().encode() + b'; boundary="' + boundary
    recovered = email.message_from_bytes(header + b'"\n\n' + body, policy=email.policy.default)
    return recovered if recovered.is_multipart() else None


def _subparts(part: email.message.Message) -> list[email.message.Message]:
    """The parts directly inside multipart ``part``."""
    payload = part.get_payload()
    children = payload if isinstance(payload, list) else [payload]
    parts = [child for child in children if isinstance(child, email.message.Message)]
    if len(parts) != len(children):
        raise TypeError(f"{part.get_content_type()} holds something other than MIME parts")
    return parts


def _part_texts(part: email.message.Message, problems: list[str]) -> list[str]:
    """The texts of ``part`` and everything inside it; what cannot be read goes to ``problems``."""
    if part.get_content_disposition() == "attachment":
        return []
    broken_multipart = part.get_content_maintype() == "multipart" and not part.is_multipart()
    if broken_multipart:
        # Its boundary is missing or wrong: split it where its body does, or,
        # with no boundary line in the body at all, read it as plain text.
        part = _recovered_multipart(part) or part
    if not part.is_multipart():
        try:
            text = _leaf_text(part, as_plain=broken_multipart)
        except Exception as exc:  # a broken part must not take the others down
            problems.append(f"{part.get_content_type()}: {exc}")
            return []
        return [text] if text.strip() else []
    children = _subparts(part)
    if part.get_content_type() == "multipart/alternative":
        # The same text twice (plain and HTML): read it once, plain text first.
        ordered = [c for c in children if c.get_content_type() == "text/plain"]
        ordered += [c for c in reversed(children) if c.get_content_type() != "text/plain"]
        for child in ordered:
            if texts := _part_texts(child, problems):
                return texts
        return []
    return [text for child in children for text in _part_texts(child, problems)]


def message_text(raw: bytes) -> str:
    """The Subject and the readable text of one RFC 822 message.

    ``text/plain`` parts are taken as they are, ``text/html`` parts reduced to
    their visible text (see ``html_text``); of ``multipart/alternative``
    versions only one is read, plain text if there is any. Attachments
    (``Content-Disposition: attachment``) and non-text parts are skipped.
    Charsets are decoded as declared; an unknown or wrong charset, or one
    that names no text encoding (``rot13``, ``hex``), falls back to UTF-8,
    then windows-1252, then latin-1. A broken part (bad base64, a
    multipart without its boundary) is skipped, or recovered where the
    boundary can be found in the body.

    Parameters
    ----------
    raw : bytes
        The message as stored, headers and body.

    Returns
    -------
    str
        The Subject, then each text part, separated by line breaks.

    Raises
    ------
    TypeError
        If ``raw`` is not bytes.
    CorpusError
        If neither a Subject nor any text part can be read.
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(f"Expected the message as bytes, got {type(raw).__name__}")
    problems: list[str] = []
    try:
        message = email.message_from_bytes(bytes(raw), policy=email.policy.default)
        subject = _header_text(message, "subject", _body_charset(message))
        texts = _part_texts(message, problems)
    except Exception as exc:  # the email package has raised on odd input; name it, go on
        raise CorpusError(f"not a readable message ({type(exc).__name__}: {exc})") from exc
    text = "\n".join(t for t in (subject, *texts) if t.strip())
    if not text:
        detail = "; ".join(problems) or "no Subject, no text/plain or text/html part"
        raise CorpusError(f"no readable text ({detail})")
    return text


def log_skip(source: str, reason: str) -> None:
    """What is done by default with a message that cannot be read: a warning naming it and why."""
    log.warning("%s: skipped, %s", source, reason)


def iter_texts(
    messages: Iterable[tuple[str, bytes]], on_skip: SkipHandler = log_skip
) -> Iterator[tuple[str, str]]:
    """``(source, text)`` for every message that can be read; the others go to ``on_skip``.

    Parameters
    ----------
    messages : Iterable[tuple[str, bytes]]
        ``(source, raw message)`` pairs, as the ``iter_*`` functions here yield.
    on_skip : SkipHandler
        Called with the source of every message that cannot be read and why
        (default: ``log_skip``).

    Yields
    ------
    tuple[str, str]
        ``(source, message_text(raw))``.
    """
    for source, raw in messages:
        try:
            yield source, message_text(raw)
        except CorpusError as exc:
            on_skip(source, str(exc))


def _is_eml(path: Path) -> bool:
    return path.suffix.lower() == EML_SUFFIX and path.is_file()


def iter_eml_files(
    folder: str | Path, on_skip: SkipHandler = log_skip
) -> Iterator[tuple[str, bytes]]:
    """``(path, raw message)`` for every ``*.eml`` file in ``folder`` and below, sorted by path.

    A file that cannot be read (gone meanwhile, an I/O error) goes to ``on_skip``.

    Raises
    ------
    CorpusError
        If ``folder`` is not a folder, or a file in it may not be read.
    """
    folder = Path(folder)
    require(folder, "a folder of .eml files", "folder")
    for path in sorted(p for p in folder.rglob("*") if _is_eml(p)):
        try:
            raw = path.read_bytes()
        except PermissionError as exc:
            # Unlike a file that went away meanwhile, this one stays unread on
            # every run until its owner acts: say so rather than skip it.
            raise CorpusError(permission_denied(path, exc)) from exc
        except OSError as exc:
            on_skip(str(path), f"cannot read it ({exc})")
            continue
        yield str(path), raw


def _not_text(start: bytes) -> str | None:
    """Why the first bytes of a file are no mail at all (UTF-16/32 or binary), or None."""
    encoding = wide_encoding(start)
    if encoding is not None:
        return f"is {encoding} text, not mail in UTF-8 or ASCII"
    return "is not a text file (binary data)" if is_binary(start) else None


def _require_mbox(path: Path) -> None:
    expected = "an mbox file (messages each after a 'From ' line)"
    require(path, expected, "file")
    try:
        with path.open("rb") as f:
            start = f.read(SAMPLE_BYTES)
    except PermissionError as exc:
        raise CorpusError(permission_denied(path, exc)) from exc
    if start and not start.startswith(MBOX_SEPARATOR):
        found = _not_text(start) or f"does not start with {MBOX_SEPARATOR.decode()!r}"
        raise CorpusError(
            f"{path}: {found}; expected {expected} — export the mail as mbox from the mail client"
        )


def iter_mbox(path: str | Path, on_skip: SkipHandler = log_skip) -> Iterator[tuple[str, bytes]]:
    """``(f"{path}:{n}", raw message)`` for the messages of an mbox file, n counting from 1.

    A message that cannot be read goes to ``on_skip``.

    Raises
    ------
    CorpusError
        If ``path`` is not a file or does not start like an mbox (``From ``).
    """
    path = Path(path)
    _require_mbox(path)
    box = mailbox.mbox(path, factory=None, create=False)
    try:
        for number, key in enumerate(box.iterkeys(), start=1):
            try:
                raw = box.get_bytes(key)
            except (OSError, KeyError) as exc:
                on_skip(f"{path}:{number}", f"cannot read it ({exc})")
                continue
            yield f"{path}:{number}", raw
    finally:
        box.close()


def split_mbox(data: bytes) -> list[bytes]:
    """The messages of mbox content held in memory, as ``mailbox.mbox`` splits a file.

    A message starts after every line that starts with ``From ``; that line
    is not part of it.
    """
    messages: list[list[bytes]] = []
    for line in data.splitlines(keepends=True):
        if line.startswith(MBOX_SEPARATOR):
            messages.append([])
        elif messages:
            messages[-1].append(line)
    for lines in messages:
        if lines and lines[-1] == b"\n":  # the blank line before "From ", as mailbox drops it
            lines.pop()
    return [b"".join(lines) for lines in messages]


@dataclass(frozen=True)
class MaildirFolder:
    """One folder of a Maildir tree.

    Parameters
    ----------
    path : Path
        The folder, which holds ``cur/`` and ``new/``.
    parts : tuple[str, ...]
        Its name as components below the top folder: ``()`` for the top
        folder itself, ``("Archive", "2020")`` for Maildir++ ``.Archive.2020``
        or for nested ``Archive/2020``.
    """

    path: Path
    parts: tuple[str, ...]

    @property
    def name(self) -> str:
        """``"INBOX"`` for the top folder, else the components joined by ``/``."""
        return "/".join(self.parts) or MAILDIR_ROOT_NAME

    @property
    def leaf(self) -> str:
        """The last name component: ``"Junk"`` for ``.Archive.Junk`` or ``Archive/Junk``."""
        return self.parts[-1] if self.parts else MAILDIR_ROOT_NAME


def _is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


def _folder_parts(relative: Path) -> tuple[str, ...]:
    parts: list[str] = []
    for name in relative.parts:
        # Maildir++ keeps every folder at the top as ".A.B"; plain nesting uses A/B.
        parts += name[1:].split(".") if name.startswith(".") else [name]
    return tuple(p for p in parts if p)


def maildir_folders(root: str | Path) -> list[MaildirFolder]:
    """Every Maildir folder at and below ``root``, sorted by name.

    A folder is one with ``cur/`` and ``new/`` in it. Found are ``root``
    itself, its Maildir++ subfolders (``.Junk``, ``.Archive.2020``) and
    plainly nested Maildirs (``Junk/cur``, ``Archive/2020/new``).
    """
    root = Path(root)
    found: list[MaildirFolder] = []
    for current, subfolders, _ in os.walk(root):
        path = Path(current)
        if _is_maildir(path):
            found.append(MaildirFolder(path, _folder_parts(path.relative_to(root))))
        subfolders[:] = sorted(d for d in subfolders if d not in ("cur", "new", "tmp"))
    return sorted(found, key=lambda f: tuple(p.casefold() for p in f.parts))


def iter_maildir_folder(
    path: str | Path, on_skip: SkipHandler = log_skip
) -> Iterator[tuple[str, bytes]]:
    """``(f"{path}:{key}", raw message)`` for the messages of one Maildir folder, by key.

    The key is the message file's unique name (its name in ``cur/`` or
    ``new/`` up to the ``:2,`` flags); subfolders are not read. A message
    that cannot be read (moved by a mail client meanwhile) goes to ``on_skip``.

    Raises
    ------
    CorpusError
        If ``path`` has no ``cur/`` and ``new/``.
    """
    path = Path(path)
    if not _is_maildir(path):
        raise CorpusError(
            f"{path}: not a Maildir; expected a folder with cur/ and new/ — "
            "pass the folder that holds cur/ and new/"
        )
    box = mailbox.Maildir(path, factory=None, create=False)
    for key in sorted(box.iterkeys()):
        try:
            raw = box.get_bytes(key)
        except PermissionError as exc:  # stays unread until its owner acts: say so
            raise CorpusError(permission_denied(path / key, exc)) from exc
        except (OSError, KeyError) as exc:  # e.g. moved by a mail client meanwhile
            on_skip(f"{path}:{key}", f"cannot read it ({exc})")
            continue
        yield f"{path}:{key}", raw


def iter_maildir(root: str | Path, on_skip: SkipHandler = log_skip) -> Iterator[tuple[str, bytes]]:
    """Every message of every folder of a Maildir tree (see ``maildir_folders``).

    A message that cannot be read goes to ``on_skip``.

    Raises
    ------
    CorpusError
        If no Maildir folder is found at or below ``root``.
    """
    root = Path(root)
    folders = maildir_folders(root) if root.is_dir() else []
    if not folders:
        raise CorpusError(
            f"{root}: no Maildir found; expected a folder with cur/ and new/ — "
            "pass the folder that holds cur/ and new/"
        )
    for folder in folders:
        yield from iter_maildir_folder(folder.path, on_skip)


_EXPECTED_INPUT = (
    "one .eml file, a folder of .eml files, an mbox file (starting with 'From '), "
    "a Maildir (cur/ and new/), or one message or an mbox on standard input"
)


def _single(source: str, raw: bytes) -> Iterator[tuple[str, str]]:
    try:
        text = message_text(raw)
    except CorpusError as exc:
        raise CorpusError(
            f"{source}: {exc}; expected {_EXPECTED_INPUT} — check that it is an e-mail"
        ) from exc
    yield source, text


def _looks_like_message(start: bytes) -> bool:
    return bool(_HEADER_LINE.match(start.lstrip(b"\r\n")))


def _messages_of_stream(stream: BinaryIO, on_skip: SkipHandler) -> Iterator[tuple[str, str]]:
    name = str(getattr(stream, "name", "<stream>"))
    data = stream.read()
    if not isinstance(data, bytes):
        raise TypeError(
            "Expected a binary stream (e.g. sys.stdin.buffer), "
            f"got one yielding {type(data).__name__}"
        )
    if data.lstrip(b"\r\n").startswith(MBOX_SEPARATOR):
        messages = split_mbox(data)
        numbered = ((f"{name}:{n}", raw) for n, raw in enumerate(messages, start=1))
        yield from iter_texts(numbered, on_skip)
    elif _looks_like_message(data[:1000]):
        yield from _single(name, data)
    else:
        what = "is empty" if not data.strip() else "holds no message"
        raise CorpusError(
            f"{name}: {what}; expected {_EXPECTED_INPUT} — pipe one message or an mbox"
        )


def iter_messages(
    source: str | os.PathLike[str] | BinaryIO, on_skip: SkipHandler = log_skip
) -> Iterator[tuple[str, str]]:
    """``(source, text)`` for every message at ``source``, whatever kind it is.

    Parameters
    ----------
    source : str | os.PathLike | BinaryIO
        One ``.eml`` file (or any one message file); a folder of ``.eml``
        files (read recursively); an mbox file; a Maildir, all its folders;
        or a binary stream such as ``sys.stdin.buffer`` holding one message
        or an mbox (which starts with ``From ``).
    on_skip : SkipHandler
        Called with the source of every message of a collection that cannot
        be read, and why (default: ``log_skip``, a warning).

    Yields
    ------
    tuple[str, str]
        The message's source (the file; ``file:n`` for the n-th message of an
        mbox, ``folder:key`` for a Maildir) and its ``message_text``. In a
        collection, a message that cannot be read is skipped (``on_skip``).

    Raises
    ------
    CorpusError
        If ``source`` is missing or in no known layout, or is one message that
        cannot be read; the message names the path and what was expected.
    """
    if not isinstance(source, str | os.PathLike):
        yield from _messages_of_stream(source, on_skip)
        return
    path = Path(source)
    kind = path_kind(path)
    if kind == "missing":
        raise CorpusError(
            f"{path}: no such file or folder; expected {_EXPECTED_INPUT} — check the path"
        )
    if kind not in ("file", "folder"):
        # Not opened: opening a FIFO with no writer blocks, a device may never end.
        raise CorpusError(
            f"{path}: is {kind}, not a file or folder; expected {_EXPECTED_INPUT} — "
            "pipe the mail to standard input instead"
        )
    if kind == "folder":
        if maildir_folders(path):
            yield from iter_texts(iter_maildir(path, on_skip), on_skip)
        elif any(_is_eml(p) for p in path.rglob("*")):
            yield from iter_texts(iter_eml_files(path, on_skip), on_skip)
        else:
            raise CorpusError(
                f"{path}: holds no Maildir and no .eml file; expected {_EXPECTED_INPUT} — "
                "check the path"
            )
        return
    try:
        with path.open("rb") as f:
            start = f.read(SAMPLE_BYTES)
        is_mbox = start.startswith(MBOX_SEPARATOR) and path.suffix.lower() != EML_SUFFIX
        one = not is_mbox and (path.suffix.lower() == EML_SUFFIX or _looks_like_message(start))
        raw = path.read_bytes() if one else b""
    except OSError as exc:
        raise read_error(path, exc, _EXPECTED_INPUT) from exc
    if one:
        yield from _single(str(path), raw)
    elif is_mbox:
        yield from iter_texts(iter_mbox(path, on_skip), on_skip)  # read message by message
    else:
        what = (
            "is empty"
            if not start.strip()
            else _not_text(start) or "is neither a message nor an mbox"
        )
        raise CorpusError(f"{path}: {what}; expected {_EXPECTED_INPUT} — check the path")
