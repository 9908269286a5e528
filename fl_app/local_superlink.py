"""A private, throwaway Flower SuperLink for ``flwr run .`` from scripts and tests.

``flwr run .`` starts a SuperLink that stays in the background on fixed
ports, in the user's ``~/.flwr``. Scripts must neither disturb the user's
nor leave one behind: this starts one on free loopback ports with its own
``FLWR_HOME`` (the same command ``flwr`` itself uses), hands out the
environment that makes ``flwr run`` use it, and stops its whole process
group afterwards, also on failure.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
POLL_S = 0.25


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=0.5) as r:
            return r.status == 200
    except OSError:
        return False


def stop_process_group(process: subprocess.Popen, timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the process group of ``process``, then SIGKILL what is left."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
    except ProcessLookupError:
        pass


@contextmanager
def private_superlink() -> Iterator[dict[str, str]]:
    """Run a simulation SuperLink; yield the environment for ``flwr run``.

    Raises
    ------
    RuntimeError
        If it is not healthy within ``STARTUP_TIMEOUT_S`` (its log is quoted).
    """
    with tempfile.TemporaryDirectory(prefix="fl-spam-flwr-") as home:
        http_port, control_port = free_port(), free_port()
        env = {
            **os.environ,
            "FLWR_HOME": home,
            "FLWR_LOCAL_SUPERLINK_HTTP_API_PORT": str(http_port),
            "FLWR_LOCAL_CONTROL_API_PORT": str(control_port),
            "FLWR_DISABLE_UPDATE_CHECK": "1",
        }
        log_path = Path(home) / "superlink.log"
        command = [
            "flower-superlink", "--insecure", "--simulation", "--isolation", "subprocess",
            "--control-api-address", f"127.0.0.1:{control_port}",
            "--host", "127.0.0.1", "--port", str(http_port),
            "--database", str(Path(home) / "state.db"), "--log-file", str(log_path),
        ]
        with log_path.open("ab") as log:
            process = subprocess.Popen(command, env=env, cwd=home, stdout=log, stderr=log,
                                       start_new_session=True)
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while not _healthy(http_port):
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = log_path.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"SuperLink did not start on 127.0.0.1:{http_port}:\n{tail}")
                time.sleep(POLL_S)
            yield env
        finally:
            stop_process_group(process)
