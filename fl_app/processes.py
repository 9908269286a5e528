"""Child processes on loopback: free ports, stopping a whole process group, and SIGTERM and
SIGHUP as interrupts."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

STOP_TIMEOUT_S = 15.0
POLL_S = 0.25


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived.

    Unwinds like Ctrl-C, so every ``finally`` and ``__exit__`` stops its processes.
    """


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
    """Pids of the live processes (not zombies, not this one) where ``match(args, environ)`` holds.

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


# Signals that end a command the way Ctrl-C does under the guard: `timeout`, systemd, `docker stop`
# and CI send SIGTERM; a closed terminal or ssh session sends SIGHUP.
GUARDED_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class SignalGuard:
    """Turns SIGTERM and SIGHUP into ``Terminated`` in the main thread, except during cleanups.

    Python's default for either signal is to die at once, skipping ``finally``
    and ``atexit``: child processes, each in a session of its own, and worker
    pools would be left running. Under the guard they unwind like Ctrl-C
    instead. A signal that arrives during a ``deferred()`` block (stopping
    processes), or while the first one unwinds, is held, so the cleanup runs
    to its end (every wait in it is bounded); a held one is raised when the
    block ends.
    """

    def __init__(self) -> None:
        self._deferring = 0
        self._pending: str | None = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._deferring:
            self._pending = self._pending or name
            return
        self._deferring += 1  # the unwinding this starts is cleanup: never interrupted again
        raise Terminated(name)

    @property
    def held(self) -> bool:
        """A signal arrived during ``deferred()`` and waits for the block to end."""
        return self._pending is not None

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold SIGTERM and SIGHUP until this block ends."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
        if self._pending and not self._deferring:
            name, self._pending = self._pending, None
            self._deferring += 1
            raise Terminated(name)


@contextlib.contextmanager
def signal_guard() -> Iterator[SignalGuard]:
    """Install a ``SignalGuard`` for this block (the enclosing one, if already installed).

    Only signals left at their default are taken over: one with a handler of
    someone else's, or ignored (``nohup``), stays as it is. Outside the main
    thread the guard changes nothing (its ``deferred()`` is then a plain block).
    """
    current = {sig: signal.getsignal(sig) for sig in GUARDED_SIGNALS}
    for handler in current.values():
        owner = getattr(handler, "__self__", None)
        if isinstance(owner, SignalGuard):
            yield owner  # nested: one guard per process
            return
    guard = SignalGuard()
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return
    taken = [sig for sig, handler in current.items() if handler == signal.SIG_DFL]
    for sig in taken:
        signal.signal(sig, guard._handle)
    try:
        yield guard
    finally:
        for sig in taken:
            signal.signal(sig, signal.SIG_DFL)


sigterm_guard = signal_guard  # its former name (tests still import it)
