"""SIGTERM and SIGHUP end a command as Ctrl-C does: nothing it started is left running.

``timeout``, systemd, ``docker stop`` and CI send SIGTERM; a closed terminal
or ssh session sends SIGHUP. Each test starts a command with a marker in its
environment (inherited by everything it starts, in any session), signals the
command's own process only, as ``docker stop`` does (``timeout`` also signals
the command's process group, which reaches its worker pool but not the
Flower processes, each in a session of its own), as soon as an event shows
its processes are up, and then checks that none of them is left. Every wait
is bounded and ends on an event; a failing test kills what the command left.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

from fl_app.processes import live_processes

ROOT = Path(__file__).resolve().parents[2]
MARK = "FL_SPAM_SIGNAL_TEST"
EVENT_TIMEOUT_S = 60.0
# The command stops its processes itself, every wait in that bounded by STOP_TIMEOUT_S.
EXIT_TIMEOUT_S = 60.0
# What exits on its own once the command is gone (the pool's resource tracker) gets this long.
GONE_TIMEOUT_S = 10.0


def marked(mark: str) -> dict[int, str]:
    """Command line of every live process (not a zombie) that inherited ``MARK=mark``."""
    found = {}
    for pid in live_processes(lambda args, environ: environ.get(MARK) == mark):
        try:
            found[pid] = (
                (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            )
        except OSError:
            pass  # gone meanwhile
    return found


def running(pids) -> list[int]:
    """Those of ``pids`` that ``pgrep`` lists as running, sleeping or stopped (not zombies)."""
    out = subprocess.run(
        ["pgrep", "--runstates", "R,S,D,T,t", "."], capture_output=True, text=True, check=False
    ).stdout  # exit code 1 when none matches
    return sorted(set(map(int, out.split())) & set(pids))


def start(mark: str, *args: str) -> subprocess.Popen:
    """``fl-spam *args`` with ``MARK=mark`` in its environment."""
    return subprocess.Popen(
        [sys.executable, "-m", "fl_app.cli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, MARK: mark},
    )


def signal_and_check(
    proc: subprocess.Popen, mark: str, sig: signal.Signals, wait_for
) -> dict[int, str]:
    """Send ``sig`` to the command alone; check it stopped everything it started.

    Return what that was. ``wait_for`` is the fixture of that name.
    """
    started = marked(mark)
    proc.send_signal(sig)
    proc.wait(timeout=EXIT_TIMEOUT_S)
    # The command waited for what it stopped; only what ends on its own once it is gone may
    # take a moment.
    assert wait_for(lambda: not marked(mark), GONE_TIMEOUT_S), f"left running: {marked(mark)}"
    assert running(started) == []
    output = proc.stdout.read()  # read only now: a process left behind would hold the pipe open
    assert proc.returncode == 130 and "interrupted" in output, output[-2000:]
    return started


def kill_what_is_left(proc: subprocess.Popen, mark: str) -> None:
    """After a failure: SIGKILL the command and whatever it left, in any session."""
    if proc.poll() is None:
        proc.kill()
    for pid in marked(mark):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)
    proc.stdout.close()


def supernodes(mark: str) -> int:
    """How many SuperNode processes carrying ``mark`` run (once they have exec'd)."""
    return " ".join(marked(mark).values()).count("flower-supernode")


def test_sigterm_stops_every_process_deploy_started(tmp_path, read_until, wait_for):
    """Signalled as soon as its SuperLink and every SuperNode process are up (deploy says
    once it has started them; each shows as a SuperNode once it has exec'd).

    SuperLink and SuperNodes, each in a session of its own. SIGHUP takes the same
    path (``signal_guard``): the bench test below sends it.
    """
    mark = str(tmp_path)
    proc = start(
        mark,
        "deploy",
        "--clients",
        "3",
        "--rounds",
        "1",
        "--results-dir",
        str(tmp_path / "results"),
        "--checkpoint-dir",
        str(tmp_path / "checkpoints"),
    )
    try:
        read_until(proc, "3 SuperNodes started", EVENT_TIMEOUT_S)
        assert wait_for(lambda: supernodes(mark) == 3, EVENT_TIMEOUT_S), marked(mark)
        started = " ".join(signal_and_check(proc, mark, signal.SIGTERM, wait_for).values())
        assert "flower-superlink" in started and started.count("flower-supernode") == 3
    finally:
        kill_what_is_left(proc, mark)


def test_sighup_stops_the_worker_pool_bench_started(tmp_path, wait_for):
    """Signalled (SIGHUP: a closed terminal) as soon as its first Paillier worker is up.

    A spawned pool, in the command's process group.
    """
    mark = str(tmp_path)
    proc = start(mark, "bench", "--quick")
    try:
        assert wait_for(
            lambda: any("spawn_main" in c for c in marked(mark).values()), EVENT_TIMEOUT_S
        ), "no worker process"
        started = " ".join(signal_and_check(proc, mark, signal.SIGHUP, wait_for).values())
        assert "spawn_main" in started
    finally:
        kill_what_is_left(proc, mark)
