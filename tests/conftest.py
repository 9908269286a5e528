"""Shared fixtures, and a reaper for the processes the tests start."""

import builtins
import os
import subprocess
import sys
import time
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest

# Set for the whole session, so inherited by every process a test starts, in any session.
SESSION_MARK = "FL_SPAM_TEST_SESSION"
# Waits for pytest to be gone (end of file on stdin), then stops every process carrying the mark.
REAPER = """
import os, signal, sys, time
sys.stdin.buffer.read()
from fl_app.processes import live_processes
name, value = sys.argv[1:]
left = lambda: live_processes(lambda args, environ: environ.get(name) == value)
for sig in (signal.SIGTERM, signal.SIGKILL):
    for pid in left():
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 15
    while left() and time.monotonic() < deadline:
        time.sleep(0.25)
"""


def pytest_configure(config):
    """However pytest ends (SIGTERM, SIGHUP, SIGKILL, a crash), nothing the tests started survives.

    A handler turning SIGTERM into KeyboardInterrupt would let finalizers run,
    but would also take the signal from ``signal_guard`` (which only takes over
    signals left at their default) in every test. Instead a reaper, in a
    session of its own, reads a pipe whose write end only pytest holds: once
    pytest is gone it stops every process carrying this session's mark (worker
    pools, Ray, the commands and deployments the tests started).
    """
    global _reaper
    value = f"{os.getpid()}-{time.time_ns()}"
    read_end, _ = os.pipe()  # not inheritable; the write end stays open until pytest exits
    _reaper = subprocess.Popen(
        [sys.executable, "-c", REAPER, SESSION_MARK, value],
        stdin=read_end,
        cwd=Path(__file__).resolve().parents[1],
        start_new_session=True,
    )
    os.close(read_end)
    os.environ[SESSION_MARK] = value


_reaper = None


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """240 labelled e-mails over 40 words (spam favours w0-w19, ham w20-w39), as label-TAB-text.

    Small enough that a secure round with a 2048-bit key is one ciphertext per
    client, so tests of the protocol and of real deployments run in seconds.
    """
    rng = np.random.default_rng(0)
    lines = []
    for i in range(240):
        spam = i % 2 == 0
        favoured = range(0, 20) if spam else range(20, 40)
        words = [f"w{w}" for w in rng.choice(list(favoured), 6)] + [
            f"w{w}" for w in rng.choice(40, 3)
        ]
        lines.append(f"{'spam' if spam else 'ham'}\t{' '.join(words)}")
    path = tmp_path_factory.mktemp("corpus") / "mail.tsv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def tiny_run_config(tiny_corpus):
    """Run-config entries of a run over 3 clients of ``tiny_corpus``; read-only, so a test
    adds its own entries to a copy: ``{**tiny_run_config, "min-clients": 2}``."""
    return MappingProxyType({"corpus": "tsv", "data-path": str(tiny_corpus), "num-clients": 3})


@pytest.fixture
def deny_reading(monkeypatch):
    """``deny_reading(path)``: from then on, opening ``path`` raises PermissionError, as
    chmod 000 does for a user (the tests run as root, who reads anything)."""

    def deny(denied: str | os.PathLike[str]) -> None:
        def guard(real):
            def opener(*args, **kwargs):
                target = args[0]
                if isinstance(target, (str, os.PathLike)) and Path(target) == Path(denied):
                    raise PermissionError(13, "Permission denied", str(denied))
                return real(*args, **kwargs)

            return opener

        monkeypatch.setattr(Path, "open", guard(Path.open))
        monkeypatch.setattr(builtins, "open", guard(builtins.open))
        monkeypatch.setattr(os, "open", guard(os.open))  # tarfile's stream mode opens with it

    return deny
