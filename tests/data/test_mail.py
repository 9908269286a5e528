"""Reading real mail: message text, .eml folders, mbox files, Maildirs, standard input."""

import io
import mailbox
from pathlib import Path

import pytest

from data.corpus import CorpusError
from data.mail import (
    html_text,
    iter_eml_files,
    iter_maildir,
    iter_mbox,
    iter_messages,
    iter_texts,
    maildir_folders,
    message_text,
    split_mbox,
)
from tests.data.mailboxes import write_mbox


def plain(subject: str, body: str, charset: str = "us-ascii") -> bytes:
    head = f"From: a@example.org\nSubject: {subject}\nMIME-Version: 1.0\n"
    head += f"Content-Type: text/plain; charset={charset}\n\n"
    return head.encode("ascii") + body.encode(charset)


KOI8 = (
    b"Subject: =?koi8-r?b?" + __import__("base64").b64encode("Скидка".encode("koi8-r")) + b"?=\n"
    b"Content-Type: text/plain; charset=koi8-r\nContent-Transfer-Encoding: 8bit\n\n"
    + "Дешевые часы сегодня\n".encode("koi8-r")
)
LATIN1 = plain("Menu", "Café crème brûlée\n", charset="iso-8859-1")
HTML_ONLY = b"""Subject: Offer
Content-Type: text/html; charset=utf-8

<html><head><title>Deal</title><style>body { color: red }</style>
<script>var tracker = "scriptsecret";</script></head>
<body><table><tr><td>Cheap&nbsp;watches</td><td>&amp; pills &euro;5</td></tr></table>
<!-- commentsecret --><p>Click <a href="http://x.example/hrefsecret">here</a></p></body></html>
"""
ALTERNATIVE = b"""Subject: Lunch
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8

see you at noon
--alt
Content-Type: text/html; charset=utf-8

<p>see you at noon</p><p>htmlonlyword</p>
--alt--
"""
WITH_ATTACHMENT = b"""Subject: Report
Content-Type: multipart/mixed; boundary="mix"

--mix
Content-Type: text/plain

the quarterly report is attached
--mix
Content-Type: text/plain; name="notes.txt"
Content-Disposition: attachment; filename="notes.txt"

attachmentsecret words
--mix
Content-Type: application/pdf; name="r.pdf"
Content-Disposition: attachment; filename="r.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQKcGRmc2VjcmV0Cg==
--mix--
"""
BAD_BASE64_PART = b"""Subject: Mixed bag
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

!!!! this is @@ not base64 ####
--b
Content-Type: text/plain

the readable part survives
--b--
"""
MISSING_BOUNDARY = b"""Subject: Lost boundary
Content-Type: multipart/mixed

--zzz
Content-Type: text/plain

body behind a missing boundary
--zzz--
"""
UNREADABLE = b"""Content-Type: image/png
Content-Transfer-Encoding: base64

iVBORw0KGgo=
"""


def test_plain_text_and_subject_are_read():
    text = message_text(plain("Hello there", "Meeting at noon\n"))
    assert text == "Hello there\nMeeting at noon\n"


def test_non_utf8_charsets_are_decoded_with_their_words():
    koi8 = message_text(KOI8)
    assert "Скидка" in koi8 and "Дешевые часы сегодня" in koi8
    assert "Café crème brûlée" in message_text(LATIN1)


def test_raw_8bit_subject_is_decoded_as_the_body_charset():
    raw = "Subject: Привет\nContent-Type: text/plain; charset=koi8-r\n\nмир\n".encode("koi8-r")
    assert message_text(raw).split("\n")[:2] == ["Привет", "мир"]


def test_unknown_or_wrong_charset_falls_back_instead_of_failing():
    unknown = b"Content-Type: text/plain; charset=x-no-such-charset\n\ncaf\xe9 ol\xe9\n"
    wrong = b"Content-Type: text/plain; charset=utf-8\n\ncaf\xe9 ol\xe9\n"
    assert message_text(unknown) == message_text(wrong) == "café olé\n"


@pytest.mark.parametrize(
    "charset", ["rot13", "hex", "base64", "zlib", "uu", "quopri", "bz2", "undefined", "x-\0"]
)
def test_a_charset_that_is_no_text_encoding_is_read_as_an_unknown_one(charset):
    """Never run as a codec on the body (rot13 would turn 'uryyb' into 'hello'), never dropped."""
    raw = f"Subject: s\nContent-Type: text/plain; charset={charset}\n\n".encode()
    unknown = b"Subject: s\nContent-Type: text/plain; charset=x-no-such-charset\n\n"
    body = b"uryyb caf\xe9\n"
    assert message_text(raw + body) == message_text(unknown + body) == "s\nuryyb café\n"


def test_html_only_message_is_reduced_to_its_visible_text():
    text = message_text(HTML_ONLY)
    assert "Cheap\xa0watches" in text and "& pills €5" in text and "Click" in text
    assert "Deal" in text
    for hidden in ("<", "scriptsecret", "color", "commentsecret", "hrefsecret", "&amp;"):
        assert hidden not in text


def test_html_cells_do_not_run_together_and_odd_markup_does_not_crash():
    assert html_text("<td>free</td><td>cash</td>").split() == ["free", "cash"]
    assert html_text("<![if !supportLists]>spam<![endif]> <b>word</b>").split()[-1] == "word"


def test_alternative_versions_are_read_once_plain_text_first():
    text = message_text(ALTERNATIVE)
    assert text.count("see you at noon") == 1
    assert "htmlonlyword" not in text


def test_attachments_and_non_text_parts_are_skipped():
    text = message_text(WITH_ATTACHMENT)
    assert "the quarterly report is attached" in text
    assert "attachmentsecret" not in text and "JVBER" not in text


def test_a_broken_part_does_not_lose_the_readable_ones():
    text = message_text(BAD_BASE64_PART)
    assert text == "Mixed bag\nthe readable part survives"
    assert "body behind a missing boundary" in message_text(MISSING_BOUNDARY)
    assert "Content-Type" not in message_text(MISSING_BOUNDARY)


def test_a_message_with_nothing_readable_raises():
    for raw in (UNREADABLE, b"", b"Subject:   \n\n"):
        with pytest.raises(CorpusError, match="no readable text"):
            message_text(raw)
    with pytest.raises(TypeError):
        message_text("Subject: str\n\nnot bytes")  # type: ignore[arg-type]


READABLE = {
    "koi8": KOI8,
    "latin1": LATIN1,
    "html": HTML_ONLY,
    "alternative": ALTERNATIVE,
    "attachment": WITH_ATTACHMENT,
    "broken": BAD_BASE64_PART,
}


def write_eml_folder(folder: Path) -> Path:
    (folder / "nested").mkdir(parents=True)
    for name, raw in READABLE.items():
        (folder / f"{name}.eml").write_bytes(raw)
    (folder / "nested" / "deep.EML").write_bytes(plain("Deep", "found below\n"))
    (folder / "unreadable.eml").write_bytes(UNREADABLE)
    (folder / "empty.eml").write_bytes(b"")
    (folder / "notes.txt").write_text("not mail")
    return folder


def write_maildir(root: Path) -> Path:
    """INBOX, Maildir++ .Junk and .Archive.2020, a plainly nested Spam/, and .Trash."""
    inbox = mailbox.Maildir(root, create=True)
    inbox.add(plain("inbox one", "hello\n"))
    inbox.add(ALTERNATIVE)
    inbox.add(UNREADABLE)
    inbox.add_folder("Junk").add(HTML_ONLY)
    inbox.add_folder("Archive.2020").add(LATIN1)
    inbox.add_folder("Trash").add(plain("binned", "old\n"))
    nested = mailbox.Maildir(root / "Spam", create=True)
    nested.add(KOI8)
    return root


def test_eml_folder_yields_every_readable_file_and_skips_the_bad_ones(tmp_path):
    folder = write_eml_folder(tmp_path / "mail")
    raw = list(iter_eml_files(folder))
    assert len(raw) == len(READABLE) + 3  # every .eml, any case, also below
    texts = dict(iter_texts(raw))
    assert len(texts) == len(READABLE) + 1
    assert texts[str(folder / "nested" / "deep.EML")] == "Deep\nfound below\n"
    assert str(folder / "unreadable.eml") not in texts


def test_mbox_yields_numbered_messages(tmp_path):
    messages = [plain("one", "a\n"), UNREADABLE, plain("three", "c\n")]
    path = write_mbox(tmp_path / "box.mbox", messages)
    raw = list(iter_mbox(path))
    assert [source for source, _ in raw] == [f"{path}:1", f"{path}:2", f"{path}:3"]
    assert dict(iter_texts(raw)) == {f"{path}:1": "one\na\n", f"{path}:3": "three\nc\n"}


def test_split_mbox_splits_as_mailbox_does(tmp_path):
    messages = [plain("one", "a\n\nFrom here on quoted\n"), plain("two", "b\n")]
    path = write_mbox(tmp_path / "box", messages)
    assert split_mbox(path.read_bytes()) == [raw for _, raw in iter_mbox(path)]


def test_maildir_folders_are_found_in_both_layouts(tmp_path):
    root = write_maildir(tmp_path / "Maildir")
    folders = {f.name: f for f in maildir_folders(root)}
    assert sorted(folders) == ["Archive/2020", "INBOX", "Junk", "Spam", "Trash"]
    archive = folders["Archive/2020"]
    assert archive.leaf == "2020" and archive.path == root / ".Archive.2020"
    assert folders["Spam"].path == root / "Spam" and folders["INBOX"].parts == ()


def test_maildir_yields_every_message_of_every_folder(tmp_path):
    root = write_maildir(tmp_path / "Maildir")
    raw = list(iter_maildir(root))
    assert len(raw) == 7
    texts = [text for _, text in iter_texts(raw)]
    assert len(texts) == 6
    assert any("Cheap\xa0watches" in t for t in texts) and any("Дешевые" in t for t in texts)


@pytest.mark.parametrize("layout", ["eml file", "eml folder", "mbox", "maildir"])
def test_iter_messages_detects_each_layout(tmp_path, layout):
    if layout == "eml file":
        path, count = tmp_path / "one.eml", 1
        path.write_bytes(KOI8)
    elif layout == "eml folder":
        path, count = write_eml_folder(tmp_path / "mail"), len(READABLE) + 1
    elif layout == "mbox":
        path = write_mbox(tmp_path / "inbox", [*READABLE.values(), UNREADABLE])
        count = len(READABLE)
    else:
        path, count = write_maildir(tmp_path / "Maildir"), 6
    found = list(iter_messages(path))
    assert len(found) == count
    assert all(source.startswith(str(path)) and text.strip() for source, text in found)


def test_iter_messages_reads_one_message_or_an_mbox_from_a_stream(tmp_path):
    one = list(iter_messages(io.BytesIO(LATIN1)))
    assert [text for _, text in one] == [message_text(LATIN1)]
    path = write_mbox(tmp_path / "box", [KOI8, UNREADABLE, HTML_ONLY])
    from_stream = list(iter_messages(io.BytesIO(path.read_bytes())))
    assert [t for _, t in from_stream] == [t for _, t in iter_messages(path)]
    assert [s for s, _ in from_stream] == ["<stream>:1", "<stream>:3"]


def _junk_file(d: Path) -> Path:
    (d / "blob.bin").write_bytes(b"\x00\x01\x02 no headers here")
    return d / "blob.bin"


def _unreadable_eml(d: Path) -> Path:
    (d / "bad.eml").write_bytes(UNREADABLE)
    return d / "bad.eml"


def _folder_without_mail(d: Path) -> Path:
    (d / "docs").mkdir()
    (d / "docs" / "a.txt").write_text("hello")
    return d / "docs"


@pytest.mark.parametrize(
    "setup",
    [lambda d: d / "missing", _junk_file, _unreadable_eml, _folder_without_mail],
    ids=["missing", "unknown file", "one unreadable message", "folder without mail"],
)
def test_iter_messages_rejects_unknown_input_naming_the_path(tmp_path, setup):
    path = setup(tmp_path)
    with pytest.raises(CorpusError) as info:
        list(iter_messages(path))
    assert str(path) in str(info.value) and "expected" in str(info.value)


def test_iter_messages_rejects_empty_and_text_streams():
    with pytest.raises(CorpusError):
        list(iter_messages(io.BytesIO(b"")))
    with pytest.raises(TypeError, match="binary stream"):
        list(iter_messages(io.StringIO("Subject: x\n\ny\n")))
