"""Download the Enron-Spam preprocessed archives, verified by SHA-256."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from storage.atomic_write import replace_durably, write_atomically

# Metsis, Androutsopoulos & Paliouras (2006), "Spam Filtering with Naive Bayes -
# Which Naive Bayes?", CEAS. The preprocessed archives' public home:
ENRON_BASE_URL = "https://www2.aueb.gr/users/ion/data/enron-spam/preprocessed"
ENRON_ARCHIVES = tuple(f"enron{i}.tar.gz" for i in range(1, 7))
# The publisher lists no checksums and this project's build machines cannot
# reach the host, so no digest is pinned in the code. The first download
# records each archive's SHA-256 in MANIFEST beside it (trust on first use);
# every later run verifies against it, and --sha256 FILE pins digests you got
# elsewhere ("<hex>  enronN.tar.gz" lines, the sha256sum format).
MANIFEST = "SHA256SUMS"
CHUNK = 1 << 16
DOWNLOAD_TIMEOUT_S = 60.0


class DownloadError(RuntimeError):
    """A download failed; the message says what to do instead."""


def default_cache_dir() -> Path:
    """``$FL_SPAM_CACHE``, else ``$XDG_CACHE_HOME/fl-spam``, else ``~/.cache/fl-spam``."""
    if env := os.environ.get("FL_SPAM_CACHE"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fl-spam"


def read_manifest(path: Path) -> dict[str, str]:
    """``{file name: sha256 hex}`` from a sha256sum-format file (missing file: empty)."""
    if not path.exists():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DownloadError(
            f"{path}: not a text file of digests ({exc.reason} at byte {exc.start}); expected "
            "'<sha256 hex>  <file name>' lines, as sha256sum writes them"
        ) from exc
    digests: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64:
            raise DownloadError(
                f"{path}:{number}: expected '<sha256 hex>  <file name>', got {line!r}"
            )
        digests[parts[1].lstrip("*")] = parts[0].lower()
    return digests


def _write_manifest(path: Path, digests: dict[str, str]) -> None:
    lines = "".join(f"{d}  {name}\n" for name, d in sorted(digests.items()))
    write_atomically(path, lines.encode("utf-8"))


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(url: str, target: Path, timeout: float, progress: Callable[[int], None] | None) -> str:
    """Stream ``url`` into ``target``; return its SHA-256 (``replace_durably`` fsyncs it)."""
    digest = hashlib.sha256()
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except ValueError as exc:  # no scheme, a port that is no number, a control character
        raise DownloadError(
            f"Could not download {url} ({exc}) — give the base URL as https://host/path"
        ) from exc
    with response, target.open("wb") as out:
        while chunk := response.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
            if progress:
                progress(len(chunk))
    return digest.hexdigest()


def download_enron(
    dest: Path,
    base_url: str = ENRON_BASE_URL,
    archives: tuple[str, ...] = ENRON_ARCHIVES,
    pinned: dict[str, str] | None = None,
    timeout: float = DOWNLOAD_TIMEOUT_S,
    progress: Callable[[int], None] | None = None,
) -> list[tuple[Path, str, str]]:
    """Fetch the archives into ``dest``, verify them, and cache them there.

    Parameters
    ----------
    dest : Path
        Cache folder; created if missing.
    base_url : str
        Where the archives are.
    archives : tuple[str, ...]
        File names to fetch.
    pinned : dict[str, str] | None
        Known digests; they take precedence over the manifest in ``dest``.
    timeout : float
        Seconds to wait for the server at each step.
    progress : Callable[[int], None] | None
        Called with the number of bytes of every chunk received.

    Returns
    -------
    list[tuple[Path, str, str]]
        ``(path, sha256, status)`` per archive, status one of ``"cached"``,
        ``"verified"`` (matched a known digest) or ``"recorded"`` (first
        download, digest written to the manifest).

    Raises
    ------
    DownloadError
        When the host cannot be reached (saying where to put the files by
        hand) or an archive does not match its known digest (the bad file is
        deleted, nothing is cached).
    """
    dest = Path(dest).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    manifest_path = dest / MANIFEST
    recorded = read_manifest(manifest_path)
    known = {**recorded, **(pinned or {})}
    results: list[tuple[Path, str, str]] = []
    for name in archives:
        target = dest / name
        expected = known.get(name)
        if target.exists() and expected and sha256_of(target) == expected:
            results.append((target, expected, "cached"))
            continue
        url = f"{base_url.rstrip('/')}/{name}"
        partial = dest / f"{name}.part"
        try:
            actual = _fetch(url, partial, timeout, progress)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            partial.unlink(missing_ok=True)
            reason = getattr(exc, "reason", exc)
            raise DownloadError(
                f"Could not download {url} ({reason}). Without network, fetch "
                f"{', '.join(archives)} by hand from {base_url}/ into {dest} "
                f"and run with '--corpus enron --data {dest}'."
            ) from exc
        if expected and actual != expected:
            partial.unlink(missing_ok=True)
            raise DownloadError(
                f"{name}: SHA-256 mismatch, expected {expected} but got {actual}; "
                "the file was deleted, nothing was cached."
            )
        replace_durably(partial, target)
        recorded[name] = actual
        _write_manifest(manifest_path, recorded)
        results.append((target, actual, "verified" if expected else "recorded"))
    return results
