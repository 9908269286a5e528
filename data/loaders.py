"""Corpus loaders: the shipped SMS corpus, the book's files, the raw Enron-Spam corpus,
label-TAB-text files, and mail as owners keep it (Maildir, mbox, .eml)."""

from __future__ import annotations

import io
import json
import logging
import re
import tarfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from .corpus import Corpus, CorpusError
from .file_kind import check_text, decode_text, path_kind, permission_denied, read_file, require
from .mail import iter_eml_files, iter_maildir_folder, iter_mbox, iter_texts, maildir_folders
from .synthetic import synthetic_corpus

log = logging.getLogger(__name__)

CORPORA = ("sms", "synthetic", "book", "enron", "tsv", "maildir", "mbox", "eml")
DEFAULT_CORPUS = "sms"
# The SMS Spam Collection (CC BY 4.0), shipped in the package; attribution in its README.md.
SMS_FILE = Path(__file__).with_name("corpora") / "sms_spam_collection.jsonl"

# Words (letters and digits of any script, with an apostrophe part: "don't") and every
# other visible character on its own: "£", "!" and "$" are among the strongest spam
# signals of real mail (README, "Model quality"). Saved models record TOKENIZER:
# change the pattern, change the name.
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)?|[^\w\s]")
TOKENIZER = "words-and-symbols-v1"
_SPAM_LABELS = {"spam", "1"}
_HAM_LABELS = {"ham", "0"}
# First fields (any case) that make a tsv file's first line a header, not an e-mail:
# the column names of the label in common spam data sets ("v1" in the SMS CSV).
TSV_HEADER_NAMES = ("label", "labels", "class", "category", "type", "target", "v1")
# Longest repr of a bad value put in a message: a label is a word, not a line of bytes.
_SHOWN_CHARS = 40
_ENRON_FOLDER = re.compile(r"^enron\d+$")
_ENRON_ARCHIVE = re.compile(r"^(enron\d+)\.tar\.gz$")
# What to do with a file inside a corpus folder that cannot be read as an e-mail.
_OUT_OF_THE_CORPUS = "move it out of the corpus"
# Maildir folders (last name component, any case) whose mail is spam; every other is ham.
SPAM_FOLDERS = ("Junk", "Spam")
# Folders that are neither: the trash holds both classes, drafts and sent mail are the owner's own.
SKIP_FOLDERS = ("Trash", "Drafts", "Sent")


def tokenize(text: str) -> list[str]:
    """Lower-cased words and symbols of ``text``, each once, in order of first appearance."""
    return list(dict.fromkeys(_TOKEN.findall(text.lower())))


def _short(value: object) -> str:
    """``repr(value)``, cut to ``_SHOWN_CHARS`` characters: enough to recognise, never a dump."""
    shown = repr(value)
    return shown if len(shown) <= _SHOWN_CHARS else shown[: _SHOWN_CHARS - 3] + "..."


def _text_lines(path: Path, expected: str) -> io.StringIO:
    """The lines of the text file ``path``, decoded as UTF-8 (bytes that are not UTF-8 dropped).

    Lines end at LF, CR LF or CR, as a file opened in text mode splits them.
    """
    data = read_file(path, expected)
    check_text(path, data, expected)
    return io.StringIO(data.decode("utf-8-sig", errors="ignore"), newline=None)


def _read_book_file(path: Path) -> list[list[str]]:
    expected = "the book's file with one e-mail per line"
    # As the book: each line an e-mail, words separated by spaces, taken as a set.
    emails = [
        list(dict.fromkeys(w for w in line.rstrip("\r\n").split(" ") if w))
        for line in _text_lines(path, expected)
    ]
    emails = [e for e in emails if e]
    if not emails:
        raise CorpusError(
            f"{path}: contains no e-mails; expected {expected} — check that this is the right file"
        )
    return emails


def load_book(folder: Path) -> Corpus:
    """The book's ``spam.txt`` and ``ham.txt`` in ``folder``.

    Raises
    ------
    CorpusError
        If a file is missing or holds no e-mails.
    """
    folder = Path(folder)
    require(folder, "a folder holding the book's spam.txt and ham.txt", "folder")
    return Corpus(
        name=f"book: {folder}",
        synthetic=False,
        spam=_read_book_file(folder / "spam.txt"),
        ham=_read_book_file(folder / "ham.txt"),
    )


def _decode(raw: bytes) -> list[str]:
    return tokenize(raw.decode("utf-8", errors="ignore"))


def _enron_from_folder(folder: Path) -> Iterable[tuple[str, list[str]]]:
    expected = "an Enron-Spam e-mail as a text file"
    for label in ("ham", "spam"):
        for path in sorted((folder / label).glob("*.txt")):
            raw = read_file(path, expected, fix=_OUT_OF_THE_CORPUS)
            # UTF-16/32 only: the corpus's own files mix 8-bit encodings, so odd
            # bytes are no sign of a wrong file, but NULs at every other byte are.
            check_text(path, raw, expected, binary=False)
            yield label, _decode(raw)


def _enron_from_archive(archive: Path) -> Iterable[tuple[str, list[str]]]:
    # One forward pass over the members as stored, then sorted in memory: a
    # gzip stream cannot seek backwards, so reading the members in name order
    # re-inflated the archive from its start at every step back (673 s for
    # the six real archives against 10.5 s from extracted folders).
    found: list[tuple[str, str, list[str]]] = []
    try:
        with tarfile.open(archive, "r|gz") as tar:
            for member in tar:
                parts = PurePosixPath(member.name).parts
                if not (member.isfile() and len(parts) >= 2 and parts[-2] in ("ham", "spam")):
                    continue
                handle = tar.extractfile(member) if parts[-1].endswith(".txt") else None
                if handle is not None:
                    found.append((parts[-2], member.name, _decode(handle.read())))
    except PermissionError as exc:
        raise CorpusError(permission_denied(archive, exc)) from exc
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise CorpusError(
            f"{archive}: not a readable .tar.gz archive ({exc}) — "
            "download it again with 'fl-spam data download'"
        ) from exc
    # The order of the extracted folder (_enron_from_folder): ham, then spam, by name.
    found.sort(key=lambda item: (item[0], item[1]))
    for label, _, words in found:
        yield label, words


def _enron_sources(root: Path) -> list[tuple[Path, Iterable[tuple[str, list[str]]]]]:
    """Every Enron-Spam part below ``root``: enronN folders first, then archives."""
    if (root / "ham").is_dir() or (root / "spam").is_dir():
        return [(root, _enron_from_folder(root))]
    if root.is_file() and _ENRON_ARCHIVE.match(root.name):
        return [(root, _enron_from_archive(root))]
    if not root.is_dir():
        return []
    sources: list[tuple[Path, Iterable[tuple[str, list[str]]]]] = []
    folders = {p.name for p in root.iterdir() if p.is_dir() and _ENRON_FOLDER.match(p.name)}
    for name in sorted(folders):
        sources.append((root / name, _enron_from_folder(root / name)))
    for archive in sorted(root.glob("enron*.tar.gz")):
        match = _ENRON_ARCHIVE.match(archive.name)
        if match and match.group(1) not in folders:  # an extracted copy wins
            require(archive, "an Enron-Spam .tar.gz archive", "file", fix=_OUT_OF_THE_CORPUS)
            sources.append((archive, _enron_from_archive(archive)))
    return sources


def load_enron(path: Path) -> Corpus:
    """The Enron-Spam corpus in its raw layout, lower-cased and tokenised.

    ``path`` may be a folder holding ``enron1`` ... ``enron6`` (each with
    ``ham/*.txt`` and ``spam/*.txt``) and/or the ``enronN.tar.gz`` archives,
    one such ``enronN`` folder, or one archive.

    Raises
    ------
    CorpusError
        If ``path`` is missing, in no known layout, or holds no e-mails of a class.
    """
    root = Path(path)
    expected = (
        "a folder with enron1..enron6 (each with ham/ and spam/ of *.txt) "
        "or the enronN.tar.gz archives from 'fl-spam data download'"
    )
    require(root, expected, "file or folder")
    sources = _enron_sources(root)
    if not sources:
        raise CorpusError(
            f"{root}: in no known Enron-Spam layout; expected {expected} — "
            "pass the folder that holds them"
        )
    emails: dict[str, list[list[str]]] = {"spam": [], "ham": []}
    for _, source in sources:
        for label, words in source:
            # An e-mail with no words is kept: Corpus counts them and warns.
            emails[label].append(words)
    for label, found in emails.items():
        if not found:
            raise CorpusError(
                f"{root}: holds no {label} e-mails; expected {expected} — "
                f"check that every enronN folder has its {label}/ e-mails"
            )
    return Corpus(name=f"enron: {root}", synthetic=False, spam=emails["spam"], ham=emails["ham"])


def _sms_record(line: str) -> tuple[str, str] | str:
    """``(label, text)`` of one line of the SMS file, or what is wrong with it."""
    try:
        record = json.loads(line)
    except ValueError as exc:
        return f"not JSON ({getattr(exc, 'msg', exc)})"
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    label, text = record.get("label"), record.get("text")
    if label not in ("spam", "ham"):
        return f"label {_short(label)}" if "label" in record else "no label"
    if not isinstance(text, str):
        return f"text {_short(text)}" if "text" in record else "no text"
    return label, text


def load_sms(path: Path = SMS_FILE) -> Corpus:
    """The SMS Spam Collection (Almeida et al., 2011; CC BY 4.0) shipped in ``data/corpora``.

    Raises
    ------
    CorpusError
        Naming the file and line of a line that is not ``{"label": ..., "text": ...}``,
        or the file if it is no UTF-8 text.
    """
    path = Path(path)
    expected = "the SMS Spam Collection as JSON lines"
    text = decode_text(path, read_file(path, expected), expected)
    emails: dict[str, list[list[str]]] = {"spam": [], "ham": []}
    for number, line in enumerate(io.StringIO(text, newline=None), start=1):
        if not line.strip():
            continue
        record = _sms_record(line)
        if isinstance(record, str):
            raise CorpusError(
                f'{path}:{number}: {record}; expected {{"label": "spam" or "ham", "text": ...}}'
                f" — correct line {number} or remove it"
            )
        emails[record[0]].append(tokenize(record[1]))
    return Corpus(name="sms-spam-collection (Almeida et al. 2011)", synthetic=False, **emails)


def load_tsv(path: Path) -> Corpus:
    """A file of ``label<TAB>text`` lines, label spam/ham or 1/0.

    The first line is a header, and skipped, if its first field is a column
    name (``TSV_HEADER_NAMES``, any case: ``label<TAB>text``); blank lines are
    skipped. Any other line with another label is an error, the first line
    too: a misspelt label must not drop an e-mail unseen.

    Raises
    ------
    CorpusError
        If the file is missing, no file, no UTF-8 text, or holds no e-mail of
        a class; naming the file and line of the first malformed line.
    """
    path = Path(path)
    expected_file = "a file of label<TAB>text lines"
    emails: dict[str, list[list[str]]] = {"spam": [], "ham": []}
    first = True
    for number, line in enumerate(_text_lines(path, expected_file), start=1):
        if not line.strip():
            continue
        field, tab, text = line.rstrip("\r\n").partition("\t")
        label = field.strip().lower()
        is_header = first and label in TSV_HEADER_NAMES
        first = False
        if label in _SPAM_LABELS:
            emails["spam"].append(tokenize(text))
        elif label in _HAM_LABELS:
            emails["ham"].append(tokenize(text))
        elif not is_header:
            what = f"label {_short(field.strip())}" if tab else f"no TAB in {_short(field)}"
            fix = f"correct line {number} or remove it"
            if number == 1:
                fix += f" (a header line starts with one of {', '.join(TSV_HEADER_NAMES)})"
            raise CorpusError(
                f"{path}:{number}: {what}; expected 'spam' or 'ham' (or 1/0), "
                f"a TAB, then the e-mail text — {fix}"
            )
    if not emails["spam"] and not emails["ham"]:
        raise CorpusError(
            f"{path}: contains no e-mails; expected {expected_file} — "
            "check that this is the right file"
        )
    for label, found in emails.items():
        if not found:
            raise CorpusError(
                f"{path}: contains no {label} e-mails; expected both classes — "
                f"add {label} e-mails (label {label} or {1 if label == 'spam' else 0})"
            )
    return Corpus(name=f"tsv: {path}", synthetic=False, spam=emails["spam"], ham=emails["ham"])


def _readable(messages: Iterable[tuple[str, bytes]]) -> list[list[str]]:
    """The tokenised text of every message that can be read (the others are logged).

    A message with no words is kept: ``Corpus`` counts such e-mails of every kind and warns.
    """
    return [tokenize(text) for _, text in iter_texts(messages)]


def _some_readable(
    messages: Iterable[tuple[str, bytes]], path: Path, label: str, expected: str
) -> list[list[str]]:
    """``_readable(messages)``, the ``label`` e-mails of the file or folder ``path``.

    Raises
    ------
    CorpusError
        If not one of them can be read; ``expected`` is what the loader expects.
    """
    emails = _readable(messages)
    if not emails:
        raise CorpusError(
            f"{path}: holds no readable {label} e-mails; expected {expected} — "
            "check the warnings above for why each message was skipped"
        )
    return emails


def _folder_names(names: tuple[str, ...], parameter: str) -> set[str]:
    if isinstance(names, str):
        raise TypeError(f"Expected {parameter} as a tuple of names, got the string {names!r}")
    return {name.casefold() for name in names}


def load_maildir(
    path: Path,
    spam_folders: tuple[str, ...] = SPAM_FOLDERS,
    skip_folders: tuple[str, ...] = SKIP_FOLDERS,
) -> Corpus:
    """A Maildir whose folder names are the labels.

    Every folder at and below ``path`` that has ``cur/`` and ``new/`` is read:
    the top folder (INBOX), Maildir++ subfolders (``.Junk``, ``.Archive.2020``)
    and plainly nested ones (``Junk/``, ``Archive/2020/``). A folder is spam
    if its last name component (``Junk`` of ``.Archive.Junk``) is one of
    ``spam_folders``, ham otherwise; names compare case-insensitively.

    Parameters
    ----------
    path : Path
        The Maildir's top folder.
    spam_folders : tuple[str, ...]
        Folder names whose mail is spam.
    skip_folders : tuple[str, ...]
        Folder names whose mail is not read, nor that of their subfolders
        (any name component matches): by default ``Trash`` (both classes
        end there), ``Drafts`` and ``Sent`` (the owner's own mail).

    Raises
    ------
    CorpusError
        If ``path`` is missing, holds no Maildir, or no readable e-mail of a class.
    TypeError
        If ``spam_folders`` or ``skip_folders`` is a string, not a tuple of names.
    """
    root = Path(path)
    spam_names = _folder_names(spam_folders, "spam_folders")
    skip_names = _folder_names(skip_folders, "skip_folders")
    expected = (
        f"a Maildir (folders with cur/ and new/) with a spam folder named "
        f"{' or '.join(spam_folders) or '(none given)'} beside ham folders such as INBOX"
    )
    require(root, expected, "folder")
    folders = maildir_folders(root)
    if not folders:
        raise CorpusError(
            f"{root}: no Maildir found; expected {expected} — "
            "pass the folder that holds cur/ and new/ (often ~/Maildir)"
        )
    emails: dict[str, list[list[str]]] = {"spam": [], "ham": []}
    seen: list[str] = []
    for folder in folders:
        if any(part.casefold() in skip_names for part in folder.parts):
            log.info("%s: folder %s skipped (skip_folders)", folder.path, folder.name)
            seen.append(f"{folder.name} skipped")
            continue
        label = "spam" if folder.leaf.casefold() in spam_names else "ham"
        seen.append(f"{folder.name} {label}")
        emails[label] += _readable(iter_maildir_folder(folder.path))
    for label, found in emails.items():
        if not found:
            raise CorpusError(
                f"{root}: holds no readable {label} e-mails (folders: {', '.join(seen)}); "
                f"expected {expected} — name the spam folders with spam_folders (--spam-folders)"
            )
    return Corpus(name=f"maildir: {root}", synthetic=False, spam=emails["spam"], ham=emails["ham"])


def load_mbox(folder: Path) -> Corpus:
    """One mbox file per class in ``folder``: ``spam.mbox`` and ``ham.mbox`` (or ``spam``, ``ham``).

    Raises
    ------
    CorpusError
        If ``folder`` or a class's file is missing, both ``spam`` and
        ``spam.mbox`` exist, a file is no mbox, or a class holds no readable e-mail.
    """
    folder = Path(folder)
    expected = "a folder with spam.mbox and ham.mbox (or spam and ham), each an mbox file"
    require(folder, expected, "folder")
    emails: dict[str, list[list[str]]] = {}
    for label in ("spam", "ham"):
        candidates = (folder / f"{label}.mbox", folder / label)
        files = [p for p in candidates if path_kind(p) != "missing"]
        if not files:
            raise CorpusError(
                f"{folder}: has no {label}.mbox (nor {label}); expected {expected} — "
                f"put the {label} e-mails there as {label}.mbox"
            )
        if len(files) > 1:
            raise CorpusError(
                f"{folder}: has both {label}.mbox and {label}; expected one mbox file per class "
                "— merge them or move one away"
            )
        require(
            files[0],
            f"the {label} e-mails as an mbox file",
            "file",
            fix=f"put the {label} e-mails there as one mbox file",
        )
        emails[label] = _some_readable(iter_mbox(files[0]), files[0], label, expected)
    return Corpus(name=f"mbox: {folder}", synthetic=False, spam=emails["spam"], ham=emails["ham"])


def load_eml(folder: Path) -> Corpus:
    """``.eml`` files in ``folder/spam/`` and ``folder/ham/`` (and their subfolders).

    Raises
    ------
    CorpusError
        If ``folder`` or a class's subfolder is missing or holds no readable e-mail.
    """
    folder = Path(folder)
    expected = "a folder with spam/ and ham/ subfolders of .eml files"
    require(folder, expected, "folder")
    emails: dict[str, list[list[str]]] = {}
    for label in ("spam", "ham"):
        sub = folder / label
        if path_kind(sub) == "missing":
            raise CorpusError(
                f"{sub}: no such folder; expected {expected} — put the {label} .eml files in {sub}"
            )
        require(sub, expected, "folder", fix=f"make {sub} a folder of the {label} .eml files")
        emails[label] = _some_readable(iter_eml_files(sub), sub, label, expected)
    return Corpus(name=f"eml: {folder}", synthetic=False, spam=emails["spam"], ham=emails["ham"])


def load_corpus(
    kind: str,
    path: str | Path | None = None,
    seed: int = 0,
    spam_folders: tuple[str, ...] = SPAM_FOLDERS,
) -> Corpus:
    """Load the corpus named by ``kind`` (one of ``CORPORA``).

    Parameters
    ----------
    kind : str
        ``"sms"`` (default everywhere; shipped), ``"synthetic"`` (generated,
        for scale tests), ``"book"``, ``"enron"``, ``"tsv"``, ``"maildir"``,
        ``"mbox"`` or ``"eml"``.
    path : str | Path | None
        Where the files are; required for every kind but ``"sms"`` and
        ``"synthetic"`` (for ``"sms"``, another copy of the shipped file).
    seed : int
        Seed of the synthetic corpus.
    spam_folders : tuple[str, ...]
        For ``"maildir"``: the folder names whose mail is spam (see
        ``load_maildir``); the other kinds ignore it.

    Raises
    ------
    CorpusError
        For an unknown kind, a missing path or a bad file.
    """
    if kind == "synthetic":
        return synthetic_corpus(seed)
    if kind == "sms":
        return load_sms(Path(path).expanduser() if path else SMS_FILE)
    if kind not in CORPORA:
        raise CorpusError(
            f"Unknown corpus {_short(kind)}; expected one of {', '.join(CORPORA)} — "
            "pick one of those"
        )
    if not path:
        raise CorpusError(
            f"Corpus {kind!r} needs a data path — give it with --data PATH (or data-path)"
        )
    if kind == "maildir":
        return load_maildir(Path(path).expanduser(), spam_folders=spam_folders)
    loader = {
        "book": load_book,
        "enron": load_enron,
        "tsv": load_tsv,
        "mbox": load_mbox,
        "eml": load_eml,
    }[kind]
    return loader(Path(path).expanduser())
