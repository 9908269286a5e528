"""write_atomically and replace_durably: content, mode, cleanup on failure, folder fsync."""

import os
import stat

import pytest

from storage.atomic_write import replace_durably, write_atomically


def test_the_target_holds_the_bytes_and_no_temporary_file_is_left(tmp_path):
    target = tmp_path / "file.bin"
    target.write_bytes(b"old")
    write_atomically(target, b"new content")
    assert target.read_bytes() == b"new content"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


def test_a_writer_function_gets_the_open_file(tmp_path):
    target = tmp_path / "file.bin"
    write_atomically(target, lambda file: file.write(b"written by a function"))
    assert target.read_bytes() == b"written by a function"


def test_missing_folders_are_created(tmp_path):
    target = tmp_path / "a" / "b" / "file.bin"
    write_atomically(target, b"deep")
    assert target.read_bytes() == b"deep"


def test_mode_0600_is_honoured_from_the_creation_of_the_temporary_file(tmp_path):
    target = tmp_path / "key"
    modes_while_writing = []

    def writer(file):
        modes_while_writing.append(stat.S_IMODE(os.fstat(file.fileno()).st_mode))
        file.write(b"secret")

    previous = os.umask(0o022)
    try:
        write_atomically(target, writer, mode=0o600)
    finally:
        os.umask(previous)
    assert modes_while_writing == [0o600]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_bytes() == b"secret"


def test_the_default_mode_is_0644_under_umask_022(tmp_path):
    target = tmp_path / "file"
    previous = os.umask(0o022)
    try:
        write_atomically(target, b"public")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_a_writer_that_raises_leaves_the_old_target_and_no_temporary_file(tmp_path):
    target = tmp_path / "file.bin"
    target.write_bytes(b"old")

    def failing(file):
        file.write(b"half of it")
        raise RuntimeError("disk full, say")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomically(target, failing)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


def test_a_failing_replace_leaves_the_old_target_and_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "file.bin"
    target.write_bytes(b"old")

    def failing_replace(source, destination):
        raise OSError("replace failed")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="replace failed"):
        write_atomically(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


def _record_fsyncs(monkeypatch):
    """Make os.fsync record, per call, whether its fd is a folder, in call order."""
    calls = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        calls.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    return calls


def test_the_file_then_the_folder_are_fsynced(tmp_path, monkeypatch):
    calls = _record_fsyncs(monkeypatch)
    write_atomically(tmp_path / "file.bin", b"content")
    assert calls == [False, True]


def test_replace_durably_fsyncs_and_moves_the_file(tmp_path, monkeypatch):
    source, target = tmp_path / "file.part", tmp_path / "file"
    source.write_bytes(b"downloaded")
    target.write_bytes(b"old")
    calls = _record_fsyncs(monkeypatch)
    replace_durably(source, target)
    assert target.read_bytes() == b"downloaded"
    assert not source.exists()
    assert calls == [False, True]


def test_replace_durably_refuses_to_move_across_folders(tmp_path):
    (tmp_path / "other").mkdir()
    source = tmp_path / "file.part"
    source.write_bytes(b"downloaded")
    with pytest.raises(ValueError, match="one folder"):
        replace_durably(source, tmp_path / "other" / "file")
    assert source.read_bytes() == b"downloaded"
