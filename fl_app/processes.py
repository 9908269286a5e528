"""Child processes on loopback: free ports, stopping a whole process group, SIGTERM as an interrupt."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

STOP_TIMEOUT_S = 15.0
POLL_S = 0.25


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwinds like Ctrl-C, so every ``finally`` and ``__exit__`` stops its processes."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process_group(process: subprocess.Popen, timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the process group of ``process``, then SIGKILL what is left."""
    if process.poll() is not None:
        return  # reaped: its group id may belong to someone else by now
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
    except ProcessLookupError:
        pass


def kill_process_group(process: subprocess.Popen, timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGKILL the process group of ``process``: a crash, no cleanup of its own runs."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=timeout)


def live_processes(match: Callable[[list[str], dict[str, str]], bool]) -> list[int]:
    """Pids of the live processes (not zombies, not this one) for which ``match(args, environ)`` holds.

    A process's environment is inherited by everything it starts, also by
    what runs in a session of its own or outlives its parent: a variable set
    for a child marks all of its descendants.
    """
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            args = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            environ = (proc / "environ").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if state == "Z" or int(proc.name) == os.getpid():
            continue
        if match(args, dict(kv.split("=", 1) for kv in environ if "=" in kv)):
            found.append(int(proc.name))
    return found


class SigtermGuard:
    """Turns SIGTERM into ``Terminated`` in the main thread, except during cleanups.

    Python's default for SIGTERM is to die at once, skipping ``finally``: child
    processes, each in a session of its own, would be left running. Under the
    guard SIGTERM unwinds like Ctrl-C instead. A SIGTERM that arrives during a
    ``deferred()`` block (stopping processes), or while the first one unwinds,
    is held, so the cleanup runs to its end (every wait in it is bounded); a
    held one is raised when the block ends.
    """

    def __init__(self) -> None:
        self._deferring = 0
        self._pending = False

    def _handle(self, signum, frame) -> None:
        if self._deferring:
            self._pending = True
            return
        self._deferring += 1  # the unwinding this starts is cleanup: never interrupted again
        raise Terminated("SIGTERM")

    @property
    def held(self) -> bool:
        """A SIGTERM arrived during ``deferred()`` and waits for the block to end."""
        return self._pending

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold SIGTERM until this block ends."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
        if self._pending and not self._deferring:
            self._pending = False
            self._deferring += 1
            raise Terminated("SIGTERM")


@contextlib.contextmanager
def sigterm_guard() -> Iterator[SigtermGuard]:
    """Install a ``SigtermGuard`` for this block (the enclosing one, if already installed).

    Outside the main thread, or when SIGTERM has a handler of someone else's,
    the guard changes nothing (its ``deferred()`` is then a plain block).
    """
    current = signal.getsignal(signal.SIGTERM)
    if isinstance(getattr(current, "__self__", None), SigtermGuard):
        yield current.__self__  # nested: one guard per process
        return
    guard = SigtermGuard()
    if threading.current_thread() is not threading.main_thread() or current != signal.SIG_DFL:
        yield guard
        return
    signal.signal(signal.SIGTERM, guard._handle)
    try:
        yield guard
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
