"""Corpus loaders on small files written by the tests."""

import io
import mailbox
import random
import tarfile
from pathlib import Path

import pytest

from data.corpus import CorpusError
from data.loaders import (
    CORPORA,
    load_book,
    load_corpus,
    load_eml,
    load_enron,
    load_maildir,
    load_mbox,
    load_tsv,
    tokenize,
)
from tests.data.mailboxes import write_mbox


def write_enron_folder(root: Path, name: str, spam: list[str], ham: list[str]) -> Path:
    for label, texts in (("spam", spam), ("ham", ham)):
        folder = root / name / label
        folder.mkdir(parents=True)
        for i, text in enumerate(texts):
            (folder / f"{i:04d}.{label}.txt").write_text(text, encoding="latin-1")
    return root / name


def write_enron_archive(
    path: Path, name: str, spam: list[str], ham: list[str], shuffle: int | None = None
) -> Path:
    """``write_enron_folder``'s files as an archive; with ``shuffle`` (a seed) not in name order."""
    members = [
        (f"{name}/{label}/{i:04d}.{label}.txt", text.encode("latin-1"))
        for label, texts in (("spam", spam), ("ham", ham))
        for i, text in enumerate(texts)
    ]
    if shuffle is not None:
        random.Random(shuffle).shuffle(members)
    with tarfile.open(path, "w:gz") as tar:
        for member, data in members:
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_tokenize_lowercases_and_keeps_each_word_once_in_order():
    words = ["subject", ":", "free", "money", ",", "!", "don't", "42", "£", "café", "привет"]
    assert tokenize("Subject: FREE money, free MONEY! don't 42 £ Café привет_") == words


def test_book_files_give_one_email_per_line_as_unique_words(tmp_path):
    (tmp_path / "spam.txt").write_bytes(b"buy now buy \xff\xfecheap\r\nwin a prize\r\n")
    (tmp_path / "ham.txt").write_bytes(b"meeting at noon\n\nsee you at noon\n")
    corpus = load_book(tmp_path)
    assert corpus.spam == [["buy", "now", "cheap"], ["win", "a", "prize"]]
    assert corpus.ham == [["meeting", "at", "noon"], ["see", "you", "at", "noon"]]
    assert not corpus.synthetic and str(tmp_path) in corpus.name


def test_enron_raw_folders_are_read_lowercased_and_tokenised(tmp_path):
    write_enron_folder(
        tmp_path, "enron1", ["Subject: CHEAP pills"], ["Subject: meeting", "Re: gas"]
    )
    write_enron_folder(tmp_path, "enron2", ["Win CASH now"], ["report attached"])
    corpus = load_enron(tmp_path)
    assert corpus.spam == [["subject", ":", "cheap", "pills"], ["win", "cash", "now"]]
    assert sorted(map(tuple, corpus.ham)) == [
        ("re", ":", "gas"),
        ("report", "attached"),
        ("subject", ":", "meeting"),
    ]


def test_enron_single_folder_and_archives_load_the_same_emails(tmp_path):
    folder = write_enron_folder(tmp_path / "raw", "enron3", ["free offer"], ["project review"])
    archive = write_enron_archive(
        tmp_path / "enron3.tar.gz", "enron3", ["free offer"], ["project review"]
    )
    from_folder, from_archive = load_enron(folder), load_enron(archive)
    assert from_folder.spam == from_archive.spam == [["free", "offer"]]
    assert from_folder.ham == from_archive.ham == [["project", "review"]]


def test_enron_folder_of_archives_and_extracted_copy_is_not_counted_twice(tmp_path):
    write_enron_archive(tmp_path / "enron1.tar.gz", "enron1", ["a b"], ["c d"])
    write_enron_archive(tmp_path / "enron2.tar.gz", "enron2", ["e f"], ["g h"])
    write_enron_folder(tmp_path, "enron1", ["a b"], ["c d"])
    corpus = load_enron(tmp_path)
    assert len(corpus.spam) == 2 and len(corpus.ham) == 2


def _texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [
        " ".join(f"w{rng.randrange(400)}" for _ in range(rng.randint(1, 6))) for _ in range(count)
    ]


def test_enron_archives_written_out_of_order_load_as_their_extracted_folders(tmp_path):
    (tmp_path / "archives").mkdir()
    for k in (1, 2):
        spam, ham = _texts(150, k), _texts(170, 10 + k)
        write_enron_folder(tmp_path / "folders", f"enron{k}", spam, ham)
        archive = tmp_path / "archives" / f"enron{k}.tar.gz"
        write_enron_archive(archive, f"enron{k}", spam, ham, shuffle=k)
    from_folders = load_enron(tmp_path / "folders")
    from_archives = load_enron(tmp_path / "archives")
    assert len(from_archives.spam) == 300 and len(from_archives.ham) == 340
    assert from_archives.spam == from_folders.spam  # the same e-mails in the same order
    assert from_archives.ham == from_folders.ham


class RewindCountingFile(io.FileIO):
    """A file that counts its seeks backwards: each means gzip inflates it again from the start."""

    def __init__(self, path):
        super().__init__(path, "rb")
        self.rewinds = 0

    def seek(self, offset, whence=io.SEEK_SET):
        before = self.tell()
        after = super().seek(offset, whence)
        self.rewinds += after < before
        return after


def test_enron_archive_is_read_in_one_forward_pass(tmp_path, monkeypatch):
    archive = write_enron_archive(
        tmp_path / "enron1.tar.gz", "enron1", _texts(200, 1), _texts(200, 2), shuffle=0
    )
    opened: list[RewindCountingFile] = []
    real_open = tarfile.open

    def counting_open(name=None, mode="r", fileobj=None, *args, **kwargs):
        if fileobj is None:
            fileobj = RewindCountingFile(name)
            opened.append(fileobj)
        return real_open(name, mode, fileobj, *args, **kwargs)

    monkeypatch.setattr(tarfile, "open", counting_open)
    try:
        corpus = load_enron(archive)
    finally:
        for f in opened:
            f.close()
    assert len(corpus.spam) == len(corpus.ham) == 200
    # Reading 400 members in name order from this shuffled archive rewinds ~200 times.
    assert len(opened) == 1 and opened[0].rewinds <= 1


def test_tsv_reads_labels_skips_header_and_blank_lines(tmp_path):
    path = tmp_path / "mail.tsv"
    path.write_text(
        "label\ttext\nspam\tCheap PILLS\n\nham\tLunch at noon?\n1\twin cash\n0\tagenda\n"
    )
    corpus = load_tsv(path)
    assert corpus.spam == [["cheap", "pills"], ["win", "cash"]]
    assert corpus.ham == [["lunch", "at", "noon", "?"], ["agenda"]]


def mail(subject: str, body: str) -> bytes:
    return f"Subject: {subject}\nContent-Type: text/plain\n\n{body}\n".encode()


UNREADABLE_MAIL = b"Content-Type: image/png\n\nnot text\n"


def write_labelled_maildir(root: Path) -> Path:
    inbox = mailbox.Maildir(root, create=True)
    inbox.add(mail("lunch", "see you at noon"))
    inbox.add(UNREADABLE_MAIL)
    inbox.add_folder("Junk").add(mail("cheap", "pills now"))
    inbox.add_folder("Archive.Spam").add(mail("win", "cash prize"))
    inbox.add_folder("Archive.2020").add(mail("minutes", "of the meeting"))
    inbox.add_folder("Trash").add(mail("trashed", "either class"))
    inbox.add_folder("Trash.Old").add(mail("trashed", "long ago"))
    inbox.add_folder("Sent").add(mail("my", "own words"))
    inbox.add_folder("Drafts").add(mail("half", "written"))
    mailbox.Maildir(root / "junk", create=True).add(mail("bulk", "deal today"))
    return root


def test_maildir_folder_names_are_the_labels(tmp_path):
    corpus = load_corpus("maildir", write_labelled_maildir(tmp_path / "Maildir"))
    assert sorted(corpus.spam) == [
        ["bulk", "deal", "today"],
        ["cheap", "pills", "now"],
        ["win", "cash", "prize"],
    ]
    assert sorted(corpus.ham) == [
        ["lunch", "see", "you", "at", "noon"],
        ["minutes", "of", "the", "meeting"],
    ]
    assert not corpus.synthetic and str(tmp_path) in corpus.name


def test_maildir_spam_and_skipped_folders_can_be_named(tmp_path):
    root = write_labelled_maildir(tmp_path / "Maildir")
    by_year = load_corpus("maildir", root, spam_folders=("2020",))
    assert by_year.spam == [["minutes", "of", "the", "meeting"]] and len(by_year.ham) == 4
    everything = load_maildir(root, skip_folders=())
    assert len(everything.spam) == 3 and len(everything.ham) == 2 + 4
    with pytest.raises(TypeError):
        load_maildir(root, spam_folders="Junk")  # type: ignore[arg-type]


def test_mbox_corpus_reads_one_file_per_class_with_or_without_extension(tmp_path):
    spam = [mail("cheap", "pills"), UNREADABLE_MAIL, mail("win", "cash")]
    write_mbox(tmp_path / "spam.mbox", spam)
    write_mbox(tmp_path / "ham", [mail("lunch", "at noon")])
    corpus = load_corpus("mbox", tmp_path)
    assert corpus.spam == [["cheap", "pills"], ["win", "cash"]]
    assert corpus.ham == [["lunch", "at", "noon"]]


def write_eml(folder: Path, messages: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, raw in messages.items():
        (folder / name).write_bytes(raw)


def test_eml_corpus_reads_spam_and_ham_subfolders(tmp_path):
    write_eml(tmp_path / "spam", {"b.eml": mail("win", "cash"), "a.eml": mail("cheap", "pills")})
    write_eml(tmp_path / "ham", {"1.eml": mail("lunch", "at noon"), "2.eml": UNREADABLE_MAIL})
    corpus = load_corpus("eml", tmp_path)
    assert corpus.spam == [["cheap", "pills"], ["win", "cash"]]
    assert corpus.ham == [["lunch", "at", "noon"]]


def test_corpus_kinds_keep_sms_first_as_the_default():
    assert CORPORA[0] == "sms" and {"maildir", "mbox", "eml"} <= set(CORPORA)


def _file(directory: Path, name: str, text: str) -> Path:
    (directory / name).write_text(text)
    return directory / name


def _book_without_ham(d: Path) -> Path:
    _file(d, "spam.txt", "a b\n")
    return d


def _book_with_empty_ham(d: Path) -> Path:
    _file(d, "spam.txt", "a\n")
    _file(d, "ham.txt", "\n\n")
    return d


def _unknown_layout(d: Path) -> Path:
    (d / "other").mkdir()
    return d / "other"


def _enron_without_ham(d: Path) -> Path:
    write_enron_folder(d, "enron1", ["x"], [])
    return d


def _maildir_without_spam(d: Path) -> Path:
    mailbox.Maildir(d / "Maildir", create=True).add(mail("lunch", "noon"))
    return d / "Maildir"


def _mbox_without_ham(d: Path) -> Path:
    write_mbox(d / "spam.mbox", [mail("cheap", "pills")])
    return d


def _mbox_twice(d: Path) -> Path:
    for name in ("spam.mbox", "spam", "ham.mbox"):
        write_mbox(d / name, [mail("some", "mail")])
    return d


def _mbox_that_is_not(d: Path) -> Path:
    (d / "spam.mbox").write_bytes(mail("not", "an mbox"))
    write_mbox(d / "ham.mbox", [mail("lunch", "noon")])
    return d


def _eml_without_ham(d: Path) -> Path:
    write_eml(d / "spam", {"a.eml": mail("cheap", "pills")})
    return d


def _eml_unreadable_spam(d: Path) -> Path:
    write_eml(d / "spam", {"a.eml": UNREADABLE_MAIL})
    write_eml(d / "ham", {"a.eml": mail("lunch", "noon")})
    return d


BAD_INPUTS = {
    "missing book folder": (lambda d: d / "nowhere", load_book, "no such file or folder"),
    "missing ham.txt": (_book_without_ham, load_book, "ham.txt: no such file"),
    "empty ham.txt": (_book_with_empty_ham, load_book, "ham.txt: contains no e-mails"),
    "missing tsv": (lambda d: d / "missing.tsv", load_tsv, "no such file or folder"),
    "empty tsv": (lambda d: _file(d, "e.tsv", ""), load_tsv, "contains no e-mails"),
    "tsv without ham": (
        lambda d: _file(d, "s.tsv", "spam\tbuy\n"),
        load_tsv,
        "contains no ham e-mails",
    ),
    "tsv bad label": (
        lambda d: _file(d, "b.tsv", "spam\tbuy\nham\tok\nmaybe\tsomething\n"),
        load_tsv,
        "b.tsv:3: label 'maybe'",
    ),
    "tsv no tab": (
        lambda d: _file(d, "t.tsv", "spam\tbuy\nham no tab\n"),
        load_tsv,
        "t.tsv:2: no TAB",
    ),
    "enron unknown layout": (_unknown_layout, load_enron, "in no known Enron-Spam layout"),
    "enron missing": (lambda d: d / "gone", load_enron, "no such file or folder"),
    "enron corrupt archive": (
        lambda d: _file(d, "enron9.tar.gz", "not a tar"),
        load_enron,
        "not a readable .tar.gz",
    ),
    "enron without ham": (_enron_without_ham, load_enron, "holds no ham e-mails"),
    "maildir missing": (lambda d: d / "nowhere", load_maildir, "no such file or folder"),
    "maildir not a maildir": (_unknown_layout, load_maildir, "no Maildir found"),
    "maildir without spam": (_maildir_without_spam, load_maildir, "holds no readable spam e-mails"),
    "mbox missing": (lambda d: d / "nowhere", load_mbox, "no such file or folder"),
    "mbox without ham": (_mbox_without_ham, load_mbox, "has no ham.mbox"),
    "mbox twice": (_mbox_twice, load_mbox, "has both spam.mbox and spam"),
    "mbox not an mbox": (_mbox_that_is_not, load_mbox, "spam.mbox: does not start with 'From '"),
    "eml missing": (lambda d: d / "nowhere", load_eml, "no such file or folder"),
    "eml without ham": (_eml_without_ham, load_eml, "ham: no such folder"),
    "eml unreadable spam": (_eml_unreadable_spam, load_eml, "holds no readable spam e-mails"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_raises_one_clear_error_naming_the_file(tmp_path, case):
    setup, loader, message = BAD_INPUTS[case]
    with pytest.raises(CorpusError) as info:
        loader(setup(tmp_path))
    assert message in str(info.value)
    assert str(tmp_path) in str(info.value)


def test_load_corpus_dispatches_and_rejects_unknown_kinds_and_missing_paths(tmp_path):
    (tmp_path / "m.tsv").write_text("spam\tbuy\nham\tok\n")
    assert load_corpus("tsv", tmp_path / "m.tsv").spam == [["buy"]]
    assert load_corpus("synthetic", seed=3).synthetic
    with pytest.raises(CorpusError, match="Unknown corpus 'pst'"):
        load_corpus("pst", tmp_path)
    with pytest.raises(CorpusError, match="needs a data path"):
        load_corpus("enron", None)
