"""``fl-spam deploy``: a real SuperLink and N SuperNodes on loopback, ``flwr run`` against them.

Every process runs in its own process group and is stopped again on success,
on failure, on Ctrl-C, SIGTERM and SIGHUP (``LocalDeployment`` is a context
manager; inside it SIGTERM and SIGHUP unwind like Ctrl-C). The
``flwr`` CLI gets a private ``FLWR_HOME`` on free ports, so the user's
configuration, and the SuperLink ``flwr run .`` leaves on fixed ports, are
never touched. With ``simulation=True`` the SuperLink runs Flower's
simulation engine instead of waiting for SuperNodes (the benchmark times
``flwr run .`` that way).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import selectors
import signal
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from .processes import (
    POLL_S,
    STOP_TIMEOUT_S,
    SignalGuard,
    free_port,
    kill_process_group,
    live_processes,
    signal_guard,
    stop_process_group,
)
from .tls import TlsFiles, make_tls_files

APP_DIR = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 60.0
RUN_TIMEOUT_S = 1800.0
CONNECTION = "fl-spam-deploy"
# Set for every process a deployment starts, "<role>@<workdir>", and inherited by all
# they start in turn (SuperExecs, ServerApps, ClientApps, their worker pools): how
# stop() and kill_superlink() find them even in sessions of their own or orphaned.
MARK = "FL_SPAM_DEPLOYMENT"


class DeploymentError(RuntimeError):
    """The deployment could not start or the run failed; the message quotes the logs."""


NodeConfig = Mapping[str, object]
# Set by LocalDeployment for node i; node_config may not change them.
PARTITION_KEYS = ("partition-id", "num-partitions")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def config_arg(values: Mapping[str, object]) -> str:
    """``key=value ...`` as Flower's ``--run-config`` and ``--node-config`` parse it (TOML values).

    Raises
    ------
    ValueError
        For a key that is not a bare TOML key, or a value Flower's parser
        cannot carry (not bool/int/float/str; a string with both quote kinds
        or a line break).
    """
    parts = []
    for key, value in values.items():
        if not _BARE_KEY.fullmatch(key):
            raise ValueError(f"config key {key!r}: expected letters, digits, '-' and '_' only")
        if isinstance(value, bool):
            text = str(value).lower()
        elif isinstance(value, int):
            text = str(value)
        elif isinstance(value, float):
            text = repr(value)  # also inf, -inf, nan: TOML spells them so
        elif (
            isinstance(value, str) and "\n" not in value and "\r" not in value and '"' not in value
        ):
            text = json.dumps(value, ensure_ascii=False)
        elif (
            isinstance(value, str) and "\n" not in value and "\r" not in value and "'" not in value
        ):
            text = f"'{value}'"  # a TOML literal string: no escapes
        else:
            raise ValueError(
                f"config {key} = {value!r}: expected a bool, int, float, or a one-line "
                "string without both kinds of quotes"
            )
        parts.append(f"{key}={text}")
    return " ".join(parts)


class _LogFollower:
    """The lines a log file gains from now on (complete lines only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0
        self.partial = b""

    def new_lines(self) -> list[str]:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        *complete, self.partial = (self.partial + data).split(b"\n")
        return [line.decode(errors="replace").rstrip("\r") for line in complete]


class LocalDeployment:
    """A SuperLink and ``clients`` SuperNodes, each with its partition in ``--node-config``.

    Parameters
    ----------
    clients : int
        Number of SuperNodes; node i gets ``partition-id=i`` and
        ``num-partitions=clients``.
    workdir : Path
        Holds logs, the SuperLink database, certificates and ``FLWR_HOME``.
    tls : bool
        Serve every connection over TLS with a throwaway CA made here.
    app_dir : Path
        The Flower app to run (this project).
    simulation : bool
        Run Flower's simulation engine in the SuperLink (then ``clients`` is 0
        and ``run`` takes ``num_supernodes`` in its federation config).
    node_config : mapping, or callable from node index to mapping, optional
        More ``--node-config`` entries for every SuperNode, next to its
        partition, e.g. ``{"min-clients": 2}``; a callable gives node i its
        own (keys, identities). Values: bool, int, float or str.
    unresponsive : collection of int
        SuperNodes (by index) that receive messages but never run a ClientApp,
        so never reply: they run with ``--isolation process`` and no SuperExec
        is started for them. A fault test kills one at a protocol point of its
        choosing (e.g. once it has received its training message) knowing it
        cannot have replied first.

    Raises
    ------
    ValueError
        If ``node_config`` sets ``partition-id`` or ``num-partitions``, or a
        value ``--node-config`` cannot carry (see ``config_arg``).
    """

    def __init__(
        self,
        clients: int,
        workdir: Path,
        tls: bool = False,
        app_dir: Path = APP_DIR,
        simulation: bool = False,
        node_config: NodeConfig | Callable[[int], NodeConfig] | None = None,
        unresponsive: Collection[int] = (),
    ) -> None:
        self.clients = clients
        self.simulation = simulation
        self.node_configs = [self._node_config(i, node_config) for i in range(clients)]
        self.unresponsive = frozenset(unresponsive)
        if not self.unresponsive <= set(range(clients)):
            raise ValueError(
                f"unresponsive = {sorted(self.unresponsive)}: expected node indices below {clients}"
            )
        self.workdir = Path(workdir)
        self.app_dir = app_dir
        self.port = free_port()
        self.logs = self.workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.tls: TlsFiles | None = make_tls_files(self.workdir / "tls") if tls else None
        self.superlink: subprocess.Popen | None = None
        self.supernodes: list[subprocess.Popen] = []
        self._runs: list[subprocess.Popen] = []  # flwr run processes, stopped by stop() too
        self._guard_stack = contextlib.ExitStack()
        self._guard: SignalGuard | None = None
        self.env = {
            **os.environ,
            "FLWR_HOME": str(self.workdir / "flwr-home"),
            "FLWR_DISABLE_UPDATE_CHECK": "1",
        }
        self._write_connection()

    def _node_config(
        self, index: int, extra: NodeConfig | Callable[[int], NodeConfig] | None
    ) -> str:
        """The ``--node-config`` of node ``index``: its partition, then ``extra``."""
        extra = dict((extra(index) if callable(extra) else extra) or {})
        if clash := sorted(set(extra) & set(PARTITION_KEYS)):
            raise ValueError(
                f"node_config sets {', '.join(clash)}: LocalDeployment gives node i partition i"
            )
        return config_arg({"partition-id": index, "num-partitions": self.clients, **extra})

    # -------------------------------------------------------------- processes
    def _marked_env(self, role: str) -> dict[str, str]:
        return {**self.env, MARK: f"{role}@{self.workdir}"}

    def _mine(self, environ: dict[str, str], role: str | None = None) -> bool:
        """Whether a process with this environment belongs to this deployment (and to ``role``)."""
        found_role, _, workdir = environ.get(MARK, "").partition("@")
        return workdir == str(self.workdir) and role in (None, found_role)

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("ab")
        try:
            return subprocess.Popen(
                command,
                env=self._marked_env(name),
                cwd=self.workdir,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        finally:
            log.close()

    def _server_security(self) -> list[str]:
        if self.tls is None:
            return ["--insecure"]
        return [
            "--ssl-certfile",
            str(self.tls.server_cert),
            "--ssl-keyfile",
            str(self.tls.server_key),
            "--ssl-ca-certfile",
            str(self.tls.ca_cert),
        ]

    def start_superlink(self) -> None:
        """Start (or restart, on the same port and database) the SuperLink; wait until healthy."""
        # A deployment's nodes already have the app's dependencies: no per-run venv, no
        # network. The simulation keeps Flower's default (what `flwr run .` users get).
        mode = (
            ["--simulation"] if self.simulation else ["--disable-runtime-dependency-installation"]
        )
        superlink = self._spawn(
            "superlink",
            [
                "flower-superlink",
                *self._server_security(),
                *mode,
                "--port",
                str(self.port),
                "--database",
                str(self.workdir / "superlink.db"),
            ],
        )
        self.superlink = superlink
        self._wait_healthy(superlink)

    def start_supernodes(self) -> None:
        """Start one SuperNode per partition."""
        for i in range(self.clients):
            # With TLS, the SuperNode verifies the SuperLink against the CA and serves its
            # own runtime API (to its ClientApp processes) over TLS too.
            security = (
                ["--insecure"]
                if self.tls is None
                else ["--root-certificates", str(self.tls.ca_cert), *self._server_security()]
            )
            # `process` isolation: the SuperNode waits for a SuperExec that nobody starts.
            isolation = ["--isolation", "process"] if i in self.unresponsive else []
            self.supernodes.append(
                self._spawn(
                    f"supernode-{i}",
                    [
                        "flower-supernode",
                        *security,
                        *isolation,
                        "--superlink",
                        f"127.0.0.1:{self.port}",
                        "--port",
                        str(free_port()),
                        "--node-config",
                        self.node_configs[i],
                    ],
                )
            )

    def _wait_healthy(self, superlink: subprocess.Popen) -> None:
        scheme = "http" if self.tls is None else "https"
        context = (
            None if self.tls is None else ssl.create_default_context(cafile=str(self.tls.ca_cert))
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(
                    f"{scheme}://127.0.0.1:{self.port}/health", timeout=1, context=context
                ) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if superlink.poll() is not None or time.monotonic() > deadline:
                raise DeploymentError(
                    f"SuperLink did not start on 127.0.0.1:{self.port}:\n"
                    f"{self.log_tail('superlink')}"
                )
            time.sleep(POLL_S)

    def kill_superlink(self) -> None:
        """Crash the server side: SIGKILL the SuperLink; wait till its SuperExec and ServerApp exit.

        Those run in a session of their own and exit when they see their
        parent gone (Flower polls every 0.2 s); whatever is left after
        ``STOP_TIMEOUT_S`` is stopped. A SIGTERM would not be quicker: the
        SuperLink then waits for its open connections to close.
        """
        if self.superlink is not None:
            kill_process_group(self.superlink)
        self._stop_pids(self._server_side, (None, signal.SIGTERM, signal.SIGKILL))

    def kill_supernode(self, index: int, crash: bool = False) -> None:
        """Stop SuperNode ``index`` and its ClientApp processes.

        By default with SIGTERM: the SuperNode deregisters on its way out, and
        the SuperLink answers every message to it with a ``NODE_UNAVAILABLE``
        error reply at once. ``crash=True`` SIGKILLs it: the SuperLink only
        notices when its heartbeat is overdue (2 x 30 s in Flower 1.42), and
        then answers the same way.
        """
        (kill_process_group if crash else stop_process_group)(self.supernodes[index])

    def _server_side(self) -> list[int]:
        """What the SuperLink started (SuperExec, ServerApp, its workers) and is still alive."""
        return live_processes(lambda args, environ: self._mine(environ, "superlink"))

    @staticmethod
    def _stop_pids(
        find: Callable[[], list[int]], signals: tuple[signal.Signals | None, ...]
    ) -> list[int]:
        """Send each of ``signals`` (``None``: none) to ``find()``'s pids, waiting up to
        ``STOP_TIMEOUT_S`` after each for them to be gone; return the pids still alive."""
        for sig in signals:
            if not (pids := find()):
                return []
            if sig is not None:
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, sig)
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while find() and time.monotonic() < deadline:
                time.sleep(POLL_S)
        return find()

    def stop(self) -> list[int]:
        """Stop every process; return the pids still alive afterwards (should be none).

        Flower starts each SuperExec in a session of its own (it exits when
        its parent does, after a poll); those are found by the port they
        talk to and stopped too.
        """
        for process in [*self._runs, *self.supernodes, self.superlink]:
            if process is not None:
                stop_process_group(process)
        strays = self._stop_pids(self._strays, (signal.SIGTERM, signal.SIGKILL))
        return [
            p.pid
            for p in [*self._runs, *self.supernodes, self.superlink]
            if p is not None and p.poll() is None
        ] + strays

    def _strays(self) -> list[int]:
        """Live processes (not zombies) this deployment started.

        Also those whose command line names its port or workdir.
        """
        marks = (f"127.0.0.1:{self.port}", str(self.workdir))
        return live_processes(
            lambda args, environ: self._mine(environ) or any(m in a for a in args for m in marks)
        )

    def __enter__(self) -> LocalDeployment:
        self._guard = self._guard_stack.enter_context(signal_guard())  # before the first process
        try:
            self.start_superlink()
            self.start_supernodes()
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()

    def _close(self) -> None:
        """Stop everything, then drop the signal guard.

        A SIGTERM or SIGHUP meanwhile waits until everything is stopped.
        """
        try:
            with self._guard.deferred() if self._guard else contextlib.nullcontext():
                self.stop()
        finally:
            self._guard_stack.close()
            self._guard = None

    def log_tail(self, name: str, chars: int = 2000) -> str:
        """The end of one process's log, for error messages."""
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"

    # -------------------------------------------------------------------- run
    def _write_connection(self) -> None:
        home = Path(self.env["FLWR_HOME"])
        home.mkdir(parents=True, exist_ok=True)
        security = (
            "insecure = true" if self.tls is None else f'root-certificates = "{self.tls.ca_cert}"'
        )
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
        on_node_line: Callable[[int, str], None] | None = None,
    ) -> dict:
        """``flwr run`` the app with these run-config overrides; return its results JSON.

        ``on_line`` gets each line ``flwr run --stream`` prints (the ServerApp's
        log); ``on_node_line(i, line)`` each line SuperNode i logs meanwhile
        (Flower's own, e.g. ``Receiving: train message``), within ``POLL_S``
        of its writing. Either may stop the run by raising.

        Raises
        ------
        DeploymentError
            If the run fails or exceeds ``timeout`` (the run is then stopped).
        """
        results_dir = Path(str(run_config["results-dir"]))
        before = set(results_dir.glob("*.json")) if results_dir.exists() else set()
        command = [
            "flwr",
            "run",
            str(self.app_dir),
            CONNECTION,
            "--stream",
            "--run-config",
            config_arg(run_config),
        ]
        if federation_config:
            command += ["--federation-config", federation_config]
        # Each SuperNode's log, with what its new lines go to.
        followers = (
            [
                (functools.partial(on_node_line, i), _LogFollower(self.logs / f"supernode-{i}.log"))
                for i in range(len(self.supernodes))
            ]
            if on_node_line
            else []
        )
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        with signal_guard() as guard:
            process = subprocess.Popen(
                command,
                env=self._marked_env("flwr-run"),
                cwd=self.workdir,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
            self._runs.append(process)
            try:
                output = process.stdout
                if output is None:  # not with stdout=PIPE; the finally below stops the process
                    raise DeploymentError("flwr run started without a pipe for its output")
                with selectors.DefaultSelector() as selector:
                    selector.register(output, selectors.EVENT_READ)
                    while True:
                        if time.monotonic() > deadline:
                            raise DeploymentError(f"flwr run did not finish within {timeout:.0f} s")
                        ready = selector.select(timeout=POLL_S)
                        for node_callback, follower in followers:
                            for node_line in follower.new_lines():
                                node_callback(node_line)
                        if ready:
                            line = output.readline()
                            if not line:
                                break
                            lines.append(line.rstrip())
                            on_line(lines[-1])
                        elif process.poll() is not None:
                            break
                process.wait(timeout=30)
            finally:
                with guard.deferred():
                    stop_process_group(process)
                    if process.stdout is not None:
                        process.stdout.close()
        saved = sorted(set(results_dir.glob("*.json")) - before)
        failed = [line.split("error: ", 1)[1] for line in lines if "error: " in line]
        if not saved and failed:  # the ServerApp's one line for a user's error (user_errors)
            raise DeploymentError(f"the run failed: {failed[-1]}")
        if not saved:
            tail = "\n".join(lines[-40:])
            raise DeploymentError(
                f"flwr run produced no results:\n{tail}\n"
                f"--- superlink log ---\n{self.log_tail('superlink')}"
            )
        return json.loads(saved[-1].read_text())
