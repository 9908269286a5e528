"""Bad corpus files reach the user as one line: the file, what is wrong, what to do (issue 14)."""

import codecs
import logging
import mailbox
import os
import signal
import tarfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from data.corpus import Corpus, CorpusError
from data.loaders import (
    load_book,
    load_eml,
    load_enron,
    load_maildir,
    load_mbox,
    load_sms,
    load_tsv,
)
from data.mail import iter_messages

TSV = "spam\tbuy cheap pills now\nham\tlunch at noon?\nspam\twin cash\nham\tthe agenda\n"
# The start of an ELF program: zero-padded fields, as binary formats have.
ELF = bytes.fromhex("7f454c4602010100") + bytes(8) + bytes.fromhex("03003e0001000000") * 40
MAIL = b"Subject: lunch\nContent-Type: text/plain\n\nsee you at noon\n"


def fails(call: Callable[[], object], words: Iterable[str] = ()) -> str:
    """The message of the ``CorpusError`` that ``call`` raises, checked to be one line with
    advice, and to hold each of ``words``."""
    with pytest.raises(CorpusError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, message
    assert " — " in message, f"no advice on what to do: {message}"
    for word in words:
        assert word in message
    return message


@pytest.fixture
def no_hang() -> Iterator[None]:
    """Fail a test that blocks, as opening a FIFO without a writer does, instead of hanging."""

    def stop(signum: int, frame: object) -> None:
        raise TimeoutError("blocked: the loader opened a FIFO or read a device")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, 5)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- 1, 2: UTF-16/32 and binary files ----------------------------------------------------------

TEXT_FILES = {
    "utf-16 with BOM": (TSV.encode("utf-16"), ["is UTF-16 text", "not UTF-8", "iconv -f UTF-16"]),
    "utf-16le without BOM": (TSV.encode("utf-16-le"), ["is UTF-16LE text", "iconv -f UTF-16LE"]),
    "utf-16be without BOM": (TSV.encode("utf-16-be"), ["is UTF-16BE text"]),
    "utf-32 with BOM": (TSV.encode("utf-32"), ["is UTF-32 text", "iconv -f UTF-32"]),
    "utf-32le without BOM": (TSV.encode("utf-32-le"), ["is UTF-32LE text"]),
    "binary with NULs": (ELF, ["is not a text file", "binary", "UTF-8 text"]),
    "binary without NULs": (bytes(range(1, 32)) * 20, ["is not a text file", "binary"]),
}


@pytest.mark.parametrize("case", sorted(TEXT_FILES))
def test_a_tsv_file_that_is_not_utf8_text_is_named_with_its_encoding(tmp_path, case):
    data, words = TEXT_FILES[case]
    path = _write(tmp_path / "mail.tsv", data)
    message = fails(lambda: load_tsv(path), words)
    assert message.startswith(f"{path}: ")
    assert "\\x00" not in message and len(message) < 300  # no dump of the file


def _book(d: Path, spam: bytes) -> Path:
    _write(d / "book" / "spam.txt", spam)
    _write(d / "book" / "ham.txt", b"lunch at noon\nthe agenda\n")
    return d / "book"


def _enron(d: Path, name: str, data: bytes) -> Path:
    _write(d / "enron1" / "ham" / "0001.ham.txt", b"Subject: lunch")
    _write(d / "enron1" / "spam" / "0001.spam.txt", b"Subject: cheap pills")
    _write(d / "enron1" / "spam" / name, data)
    return d


def _mbox(d: Path, spam: bytes) -> Path:
    _write(d / "box" / "spam.mbox", spam)
    _write(d / "box" / "ham.mbox", b"From a@b Mon Jan  1 00:00:00 2024\n" + MAIL)
    return d / "box"


# (setup returning the path to load, loader, the file the message must name, key words)
OTHER_TEXT_FILES = {
    "sms as UTF-16": (
        lambda d: _write(
            d / "sms.jsonl", b'{"label": "ham", "text": "hi"}\n'.decode().encode("utf-16")
        ),
        load_sms,
        "sms.jsonl",
        ["UTF-16", "iconv"],
    ),
    "book file binary": (lambda d: _book(d, ELF), load_book, "spam.txt", ["not a text file"]),
    "enron e-mail as UTF-16": (
        lambda d: _enron(d, "0002.spam.txt", "Subject: win cash".encode("utf-16")),
        load_enron,
        "0002.spam.txt",
        ["UTF-16", "iconv"],
    ),
    "mbox as UTF-16": (
        lambda d: _mbox(
            d, ("From a@b Mon Jan  1 00:00:00 2024\n" + MAIL.decode()).encode("utf-16")
        ),
        load_mbox,
        "spam.mbox",
        ["UTF-16"],
    ),
    "mbox binary": (lambda d: _mbox(d, ELF), load_mbox, "spam.mbox", ["not a text file"]),
    "one message binary": (
        lambda d: _write(d / "x.bin", ELF),
        lambda p: list(iter_messages(p)),
        "x.bin",
        ["not a text file"],
    ),
}


@pytest.mark.parametrize("case", sorted(OTHER_TEXT_FILES))
def test_every_loader_names_a_file_that_is_not_utf8_text(tmp_path, case):
    setup, loader, named, words = OTHER_TEXT_FILES[case]
    path = setup(tmp_path)
    message = fails(lambda: loader(path), words)
    assert named in message and str(tmp_path) in message
    assert "\\x00" not in message


def test_a_utf8_bom_is_not_taken_for_part_of_the_first_label(tmp_path):
    path = _write(tmp_path / "mail.tsv", codecs.BOM_UTF8 + TSV.encode())
    assert load_tsv(path).spam[0] == ["buy", "cheap", "pills", "now"]


def test_a_line_of_sms_json_that_is_not_utf8_names_its_line_and_shows_a_few_bytes(tmp_path):
    path = _write(
        tmp_path / "sms.jsonl", b'{"label": "ham", "text": "hi"}\n{"label": "\xff\xfe!"}\n'
    )
    message = fails(lambda: load_sms(path))
    assert f"{path}:2:" in message and "not UTF-8" in message


# --- 3: FIFOs and devices are named, never opened ------------------------------------------------

LOADERS = {
    "tsv": load_tsv,
    "sms": load_sms,
    "book": load_book,
    "enron": load_enron,
    "maildir": load_maildir,
    "mbox": load_mbox,
    "eml": load_eml,
    "classify": lambda p: list(iter_messages(p)),
}


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_a_fifo_is_named_as_one_and_not_opened(tmp_path, kind, no_hang):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    message = fails(lambda: LOADERS[kind](fifo))
    assert message.startswith(f"{fifo}: is a FIFO") and "not a file or folder" in message


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_dev_null_is_named_a_device_not_a_folder(kind, no_hang):
    message = fails(lambda: LOADERS[kind](Path("/dev/null")))
    assert message.startswith("/dev/null: is a device") and "is a folder" not in message


def test_a_fifo_inside_a_corpus_folder_is_named_and_not_opened(tmp_path, no_hang):
    root = _enron(tmp_path, "0002.spam.txt", b"Subject: win cash")
    (root / "enron1" / "spam" / "0002.spam.txt").unlink()
    os.mkfifo(root / "enron1" / "spam" / "0002.spam.txt")
    message = fails(lambda: load_enron(root))
    assert "0002.spam.txt: is a FIFO" in message and "move it out of the corpus" in message


# --- 4: permission denied ------------------------------------------------------------------------


def _maildir(d: Path) -> Path:
    inbox = mailbox.Maildir(d / "Maildir", create=True)
    inbox.add(MAIL)
    inbox.add_folder("Junk").add(MAIL.replace(b"lunch", b"cheap"))
    return d / "Maildir"


def _enron_archive(d: Path) -> Path:
    with tarfile.open(d / "enron1.tar.gz", "w:gz"):
        pass
    return d


def _eml(d: Path) -> Path:
    _write(d / "e" / "ham" / "a.eml", MAIL)
    _write(d / "e" / "spam" / "a.eml", MAIL)
    return d / "e"


# (setup returning the path to load, the file that may not be read as a glob below tmp_path,
# loader)
UNREADABLE = {
    "tsv": (lambda d: _write(d / "m.tsv", TSV.encode()), "m.tsv", load_tsv),
    "sms": (
        lambda d: _write(d / "s.jsonl", b'{"label": "ham", "text": "hi"}\n'),
        "s.jsonl",
        load_sms,
    ),
    "book": (lambda d: _book(d, b"buy now\n"), "book/spam.txt", load_book),
    "enron folder e-mail": (
        lambda d: _enron(d, "0002.spam.txt", b"win"),
        "enron1/spam/0002.spam.txt",
        load_enron,
    ),
    "enron archive": (_enron_archive, "enron1.tar.gz", load_enron),
    "mbox": (lambda d: _mbox(d, b"From x\n" + MAIL), "box/spam.mbox", load_mbox),
    "eml": (_eml, "e/spam/a.eml", load_eml),
    "maildir message": (_maildir, "Maildir/.Junk/new/*", load_maildir),
    "one message": (
        lambda d: _write(d / "a.eml", MAIL),
        "a.eml",
        lambda p: list(iter_messages(p)),
    ),
}


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_an_unreadable_file_is_named_with_permission_denied(tmp_path, deny_reading, case):
    setup, pattern, loader = UNREADABLE[case]
    path = setup(tmp_path)
    denied = next(tmp_path.glob(pattern))
    deny_reading(denied)
    message = fails(lambda: loader(path))
    assert message == (
        f"{denied}: permission denied — make it readable (chmod) or move it out of the corpus"
    )


# --- 5: a header is a line that looks like one ---------------------------------------------------

BAD_FIRST_LINES = {
    "misspelt label": ("hamm\thello\n", ["line 1", "label 'hamm'", "'spam' or 'ham'", "header"]),
    "spaces for a TAB": ("ham hello there\n", ["line 1", "no TAB", "'ham hello there'"]),
    "a word": ("maybe\tsomething\n", ["line 1", "label 'maybe'"]),
}


@pytest.mark.parametrize("case", sorted(BAD_FIRST_LINES))
def test_a_bad_first_line_is_reported_not_skipped_as_a_header(tmp_path, case):
    first, words = BAD_FIRST_LINES[case]
    path = _write(tmp_path / "m.tsv", (first + TSV).encode())
    message = fails(lambda: load_tsv(path), words)
    assert message.startswith(f"{path}:1: ")


@pytest.mark.parametrize(
    "header", ["label\ttext", "Label\tText", "CLASS\tmessage", "v1\tv2", "type"]
)
def test_a_header_line_is_skipped(tmp_path, header):
    path = _write(tmp_path / "m.tsv", f"{header}\n{TSV}".encode())
    corpus = load_tsv(path)
    assert len(corpus.spam) == 2 and len(corpus.ham) == 2


def test_a_header_name_after_the_first_line_is_a_bad_label(tmp_path):
    path = _write(tmp_path / "m.tsv", f"{TSV}label\ttext\n".encode())
    assert f"{path}:5: label 'label'" in fails(lambda: load_tsv(path))


def test_a_long_bad_label_is_shown_short(tmp_path):
    path = _write(tmp_path / "m.tsv", (TSV + "x" * 500 + "\tbuy\n").encode())
    message = fails(lambda: load_tsv(path))
    assert f"{path}:5: label 'xxx" in message and "x" * 41 not in message


# --- 6: e-mails with no words --------------------------------------------------------------------


def test_some_emails_without_words_give_one_warning_with_count_and_share(tmp_path, caplog):
    path = _write(tmp_path / "m.tsv", (TSV + "ham\t \nspam\t___\n").encode())
    with caplog.at_level(logging.WARNING):
        corpus = load_tsv(path)
    assert len(corpus.spam) == 3 and len(corpus.ham) == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(path) in warnings[0]
    assert "2 of 6 e-mails (33%) have no words: they cannot be classified" in warnings[0]


NO_WORDS = {
    "tsv, every e-mail": (
        lambda d: _write(d / "m.tsv", b"spam\nham\nspam\t \nham\t\n"),
        load_tsv,
        ["none of its 4 e-mails has a word"],
    ),
    "tsv, every spam e-mail": (
        lambda d: _write(d / "m.tsv", b"spam\nham\thi\nspam\t \nham\tyou\n"),
        load_tsv,
        ["none of its 2 spam e-mails has a word"],
    ),
    "enron, every spam e-mail": (
        lambda d: _enron(d, "0001.spam.txt", b"  \n"),  # replaces the one spam e-mail
        load_enron,
        ["none of its 1 spam e-mails has a word"],
    ),
}


@pytest.mark.parametrize("case", sorted(NO_WORDS))
def test_a_class_without_words_is_refused(tmp_path, case):
    setup, loader, words = NO_WORDS[case]
    message = fails(lambda: loader(setup(tmp_path)), words)
    assert str(tmp_path) in message and "format/encoding" in message


def test_every_corpus_kind_gets_the_check():
    with pytest.raises(CorpusError, match="none of its 1 ham e-mails has a word"):
        Corpus("built by hand", False, [["buy"]], [[]])


# --- 7: missing files and folders where files belong say what to do ------------------------------


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_a_missing_path_says_to_check_it(tmp_path, kind):
    message = fails(lambda: LOADERS[kind](tmp_path / "nowhere"))
    assert message.startswith(f"{tmp_path / 'nowhere'}: no such file or folder;")
    assert message.endswith("— check the path")


@pytest.mark.parametrize("kind", ["tsv", "sms"])
def test_a_folder_where_a_file_belongs_says_to_pass_the_file(tmp_path, kind):
    message = fails(lambda: LOADERS[kind](tmp_path))
    assert message.startswith(f"{tmp_path}: is a folder;") and "— pass the file itself" in message


def test_text_in_an_8bit_encoding_is_not_taken_for_binary(tmp_path):
    # Bytes that are not UTF-8 are no sign of a wrong file: latin-1 and windows-1251
    # text is made of them (the loader drops them, as it always did).
    path = _write(tmp_path / "m.tsv", (TSV + "spam\tприз\fденьги\n").encode("cp1251"))
    assert len(load_tsv(path).spam) == 3
