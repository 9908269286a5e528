"""``fl-spam deploy``: a real SuperLink and N SuperNodes on loopback, and ``flwr run`` against them.

Every process runs in its own process group and is stopped again on success,
on failure and on Ctrl-C (``LocalDeployment`` is a context manager). The
``flwr`` CLI gets a private ``FLWR_HOME`` on free ports, so the user's
configuration, and the SuperLink ``flwr run .`` leaves on fixed ports, are
never touched. With ``simulation=True`` the SuperLink runs Flower's
simulation engine instead of waiting for SuperNodes (the benchmark times
``flwr run .`` that way).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from .processes import POLL_S, STOP_TIMEOUT_S, free_port, stop_process_group
from .tls import TlsFiles, make_tls_files

APP_DIR = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 60.0
RUN_TIMEOUT_S = 1800.0
CONNECTION = "fl-spam-deploy"


class DeploymentError(RuntimeError):
    """The deployment could not start or the run failed; the message quotes the logs."""


class LocalDeployment:
    """A SuperLink and ``clients`` SuperNodes, each with its partition in ``--node-config``.

    Parameters
    ----------
    clients : int
        Number of SuperNodes; node i gets ``partition-id=i``.
    workdir : Path
        Holds logs, the SuperLink database, certificates and ``FLWR_HOME``.
    tls : bool
        Serve every connection over TLS with a throwaway CA made here.
    app_dir : Path
        The Flower app to run (this project).
    simulation : bool
        Run Flower's simulation engine in the SuperLink (then ``clients`` is 0
        and ``run`` takes ``num_supernodes`` in its federation config).
    """

    def __init__(
        self, clients: int, workdir: Path, tls: bool = False, app_dir: Path = APP_DIR, simulation: bool = False
    ) -> None:
        self.clients = clients
        self.simulation = simulation
        self.workdir = Path(workdir)
        self.app_dir = app_dir
        self.port = free_port()
        self.logs = self.workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.tls: TlsFiles | None = make_tls_files(self.workdir / "tls") if tls else None
        self.superlink: subprocess.Popen | None = None
        self.supernodes: list[subprocess.Popen] = []
        self.env = {**os.environ, "FLWR_HOME": str(self.workdir / "flwr-home"), "FLWR_DISABLE_UPDATE_CHECK": "1"}
        self._write_connection()

    # -------------------------------------------------------------- processes
    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("ab")
        try:
            return subprocess.Popen(command, env=self.env, cwd=self.workdir, stdout=log, stderr=log,
                                    start_new_session=True)
        finally:
            log.close()

    def _server_security(self) -> list[str]:
        if self.tls is None:
            return ["--insecure"]
        return ["--ssl-certfile", str(self.tls.server_cert), "--ssl-keyfile", str(self.tls.server_key),
                "--ssl-ca-certfile", str(self.tls.ca_cert)]

    def start_superlink(self) -> None:
        """Start (or restart, on the same port and database) the SuperLink; wait until healthy."""
        # A deployment's nodes already have the app's dependencies: no per-run venv, no
        # network. The simulation keeps Flower's default (what `flwr run .` users get).
        mode = ["--simulation"] if self.simulation else ["--disable-runtime-dependency-installation"]
        self.superlink = self._spawn("superlink", [
            "flower-superlink", *self._server_security(), *mode, "--port", str(self.port),
            "--database", str(self.workdir / "superlink.db"),
        ])
        self._wait_healthy()

    def start_supernodes(self) -> None:
        """Start one SuperNode per partition."""
        for i in range(self.clients):
            # With TLS, the SuperNode verifies the SuperLink against the CA and serves its
            # own runtime API (to its ClientApp processes) over TLS too.
            security = (["--insecure"] if self.tls is None else
                        ["--root-certificates", str(self.tls.ca_cert), *self._server_security()])
            self.supernodes.append(self._spawn(f"supernode-{i}", [
                "flower-supernode", *security, "--superlink", f"127.0.0.1:{self.port}",
                "--port", str(free_port()),
                "--node-config", f"partition-id={i} num-partitions={self.clients}",
            ]))

    def _wait_healthy(self) -> None:
        scheme = "http" if self.tls is None else "https"
        context = None if self.tls is None else ssl.create_default_context(cafile=str(self.tls.ca_cert))
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{scheme}://127.0.0.1:{self.port}/health", timeout=1,
                                            context=context) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self.superlink.poll() is not None or time.monotonic() > deadline:
                raise DeploymentError(f"SuperLink did not start on 127.0.0.1:{self.port}:\n{self.log_tail('superlink')}")
            time.sleep(POLL_S)

    def kill_superlink(self) -> None:
        """Stop the SuperLink and every ServerApp it runs (the server side)."""
        if self.superlink is not None:
            stop_process_group(self.superlink)

    def kill_supernode(self, index: int) -> None:
        """Stop SuperNode ``index`` and its ClientApp processes."""
        stop_process_group(self.supernodes[index])

    def stop(self) -> list[int]:
        """Stop every process; return the pids still alive afterwards (should be none).

        Flower starts each SuperExec in a session of its own (it exits when
        its parent does, after a poll); those are found by the port they
        talk to and stopped too.
        """
        for process in [*self.supernodes, self.superlink]:
            if process is not None:
                stop_process_group(process)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while (strays := self._strays()) and time.monotonic() < deadline:
            for pid in strays:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            time.sleep(POLL_S)
        return [p.pid for p in [*self.supernodes, self.superlink] if p is not None and p.poll() is None] + strays

    def _strays(self) -> list[int]:
        """Live processes (not zombies) whose command line names this deployment's port or workdir."""
        marks = (f"127.0.0.1:{self.port}".encode(), str(self.workdir).encode())
        found = []
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                cmdline = (proc / "cmdline").read_bytes()
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z" and any(m in cmdline for m in marks) and int(proc.name) != os.getpid():
                found.append(int(proc.name))
        return found

    def __enter__(self) -> LocalDeployment:
        try:
            self.start_superlink()
            self.start_supernodes()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_tail(self, name: str, chars: int = 2000) -> str:
        """The end of one process's log, for error messages."""
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"

    # -------------------------------------------------------------------- run
    def _write_connection(self) -> None:
        home = Path(self.env["FLWR_HOME"])
        home.mkdir(parents=True, exist_ok=True)
        security = ("insecure = true" if self.tls is None
                    else f'root-certificates = "{self.tls.ca_cert}"')
        (home / "config.toml").write_text(
            f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\n'
            f'address = "127.0.0.1:{self.port}"\n{security}\n'
        )

    def run(
        self,
        run_config: dict[str, object],
        timeout: float = RUN_TIMEOUT_S,
        on_line: Callable[[str], None] = lambda line: None,
        federation_config: str | None = None,
    ) -> dict:
        """``flwr run`` the app with these run-config overrides; return its results JSON.

        Raises
        ------
        DeploymentError
            If the run fails or exceeds ``timeout`` (the run is then stopped).
        """
        results_dir = Path(str(run_config["results-dir"]))
        before = set(results_dir.glob("*.json")) if results_dir.exists() else set()
        overrides = " ".join(f"{k}={json.dumps(v) if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else v}"
                             for k, v in run_config.items())
        command = ["flwr", "run", str(self.app_dir), CONNECTION, "--stream", "--run-config", overrides]
        if federation_config:
            command += ["--federation-config", federation_config]
        process = subprocess.Popen(command, env=self.env, cwd=self.workdir, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, start_new_session=True)
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(process.stdout, selectors.EVENT_READ)
                while True:
                    if time.monotonic() > deadline:
                        raise DeploymentError(f"flwr run did not finish within {timeout:.0f} s")
                    if selector.select(timeout=POLL_S):
                        line = process.stdout.readline()
                        if not line:
                            break
                        lines.append(line.rstrip())
                        on_line(lines[-1])
                    elif process.poll() is not None:
                        break
            process.wait(timeout=30)
        finally:
            stop_process_group(process)
        saved = sorted(set(results_dir.glob("*.json")) - before)
        if not saved:
            tail = "\n".join(lines[-40:])
            raise DeploymentError(f"flwr run produced no results:\n{tail}\n--- superlink log ---\n{self.log_tail('superlink')}")
        return json.loads(saved[-1].read_text())
