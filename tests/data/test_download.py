"""Enron-Spam download against a local HTTP server on loopback."""

import hashlib
import http.server
import socket
import threading
from functools import partial

import pytest

from data.download import MANIFEST, DownloadError, download_enron, read_manifest


@pytest.fixture
def server(tmp_path):
    """Serve ``tmp_path / "www"`` on 127.0.0.1; stopped after the test."""
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_first_download_records_digests_and_later_runs_use_the_cache(tmp_path, server):
    root, url = server
    (root / "enron1.tar.gz").write_bytes(b"archive one")
    (root / "enron2.tar.gz").write_bytes(b"archive two")
    dest = tmp_path / "cache"
    first = download_enron(dest, url, ("enron1.tar.gz", "enron2.tar.gz"), timeout=5)
    assert [s for _, _, s in first] == ["recorded", "recorded"]
    assert (dest / "enron1.tar.gz").read_bytes() == b"archive one"
    manifest = read_manifest(dest / MANIFEST)
    assert manifest["enron2.tar.gz"] == hashlib.sha256(b"archive two").hexdigest()
    (root / "enron1.tar.gz").unlink()  # the server no longer has it: must come from cache
    second = download_enron(dest, url, ("enron1.tar.gz", "enron2.tar.gz"), timeout=5)
    assert [s for _, _, s in second] == ["cached", "cached"]


def test_a_digest_mismatch_deletes_the_file_and_caches_nothing(tmp_path, server):
    root, url = server
    (root / "enron1.tar.gz").write_bytes(b"tampered")
    dest = tmp_path / "cache"
    pinned = {"enron1.tar.gz": hashlib.sha256(b"original").hexdigest()}
    with pytest.raises(DownloadError, match="enron1.tar.gz: SHA-256 mismatch"):
        download_enron(dest, url, ("enron1.tar.gz",), pinned=pinned, timeout=5)
    assert list(dest.iterdir()) == []


def test_a_pinned_digest_that_matches_is_reported_verified(tmp_path, server):
    root, url = server
    (root / "enron1.tar.gz").write_bytes(b"original")
    pinned = {"enron1.tar.gz": hashlib.sha256(b"original").hexdigest()}
    [(path, _, status)] = download_enron(
        tmp_path / "c", url, ("enron1.tar.gz",), pinned=pinned, timeout=5
    )
    assert status == "verified" and path.read_bytes() == b"original"


def test_unreachable_host_says_where_to_put_the_files_by_hand(tmp_path):
    with socket.socket() as s:  # a port on loopback that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dest = tmp_path / "cache"
    with pytest.raises(DownloadError) as info:
        download_enron(dest, f"http://127.0.0.1:{port}", ("enron1.tar.gz",), timeout=2)
    message = str(info.value)
    assert "by hand" in message and str(dest) in message and "--corpus enron" in message
    assert not any(dest.iterdir())


def test_malformed_manifest_is_refused_with_its_line(tmp_path):
    (tmp_path / MANIFEST).write_text("deadbeef enron1.tar.gz\n")
    with pytest.raises(DownloadError, match="SHA256SUMS:1"):
        read_manifest(tmp_path / MANIFEST)
