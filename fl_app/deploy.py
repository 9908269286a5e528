"""``fl-spam deploy``: a real SuperLink and N SuperNodes on loopback, ``flwr run`` against them.

Every process runs in its own process group and is stopped again on success,
on failure, on Ctrl-C, SIGTERM and SIGHUP (``LocalDeployment`` is a context
manager; inside it SIGTERM and SIGHUP unwind like Ctrl-C). The
``flwr`` CLI gets a private ``FLWR_HOME`` on free ports, so the user's
configuration, and the SuperLink ``flwr run .`` leaves on fixed ports, are
never touched. With ``simulation=True`` the SuperLink runs Flower's
simulation engine instead of waiting for SuperNodes (the benchmark times
``flwr run .`` that way).

SuperNodes start in batches of ``START_BATCH``, each once the previous one
has connected; ``check_capacity`` refuses, before anything starts, a
federation larger than the machine holds (from per-process figures measured
here: ``NODE_MB``, ``CLIENTAPP_MB``, ``CLIENTAPP_CPU_S`` and the pool's).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import selectors
import signal
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from .config import RunConfigError
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


class CapacityError(DeploymentError):
    """The federation asked for is larger than this machine can hold; nothing was started."""


# SuperNodes start in batches of at most this many; each batch waits until the previous
# one's nodes have connected to the SuperLink. A SuperNode and the SuperExec it starts
# take ~2.4 CPU-seconds between them to start (see the figures below): a batch of 8
# keeps a 2-core machine's load near 8 for ~10 s instead of forking every node at once.
START_BATCH = 8
# What a SuperNode logs (Flower 1.42) once the SuperLink has registered and activated it.
NODE_CONNECTED = "SuperNode ID: "

# ---------------------------------------------------------------- capacity
# What a deployment costs, measured on a 2-core, 24 GB Linux machine (Flower 1.42, the
# SMS corpus, 2048-bit keys): deployments of 3 and 6 SuperNodes (LocalDeployment), one
# plain and one secure round each, every process sampled from /proc every 50 ms. Memory
# is the peak proportional set size (PSS, smaps_rollup: shared pages split among their
# users, so the sum over processes is what they take together); CPU is utime + stime,
# which other load on the machine does not inflate. Rounded up.
# (They start in 1.1-1.3 and 1.0-1.1 CPU-seconds: the ~2.4 s a node of START_BATCH takes.)
NODE_MB = 200.0  # a SuperNode (~102 MB) and the SuperExec it starts (~97 MB), for the run
# Every message to a node starts a ClientApp process, and a round's messages go to every
# node at once: a message wave runs one ClientApp per SuperNode side by side.
CLIENTAPP_MB = 175.0  # one ClientApp at its peak (155-175 MB)
CLIENTAPP_CPU_S = 2.5  # ... its CPU-seconds (1.9-2.5: imports, the corpus, training)
# A secure training message's ClientApp also spawns an obfuscator pool of one worker per
# core (PaillierWorkers' default): measured with 2 workers, 90-92 MB each plus an 8 MB
# resource tracker, 2.2-2.8 CPU-seconds each (their imports, and the obfuscators shared
# out among them; with more cores each computes fewer but imports as much).
POOL_WORKER_MB = 95.0
POOL_WORKER_CPU_S = 2.8
# Once per deployment: the SuperLink (~127 MB), flwr run (~78 MB), the ServerApp (~223 MB),
# its SuperExec (~97 MB) and its decryption pool (~94 MB a worker, here 2).
SERVER_MB = 750.0


@dataclass(frozen=True)
class Machine:
    """What a machine offers a deployment.

    Parameters
    ----------
    memory_mb : float
        Memory available now (``MemAvailable``), in MiB.
    cores : int
        Cores this process may run on.
    pool_workers : int
        Workers of a ClientApp's obfuscator pool (``PaillierWorkers``: one per core).
    """

    memory_mb: float
    cores: int
    pool_workers: int

    @classmethod
    def here(cls) -> Machine:
        """This machine, now."""
        memory_mb = None
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    memory_mb = int(line.split()[1]) / 1024
        if memory_mb is None:  # not Linux: free pages
            memory_mb = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
        return cls(memory_mb, cores or os.cpu_count() or 1, os.cpu_count() or 1)


@dataclass(frozen=True)
class FederationNeeds:
    """What ``clients`` SuperNodes on one machine need at a round's peak.

    Parameters
    ----------
    clients : int
        SuperNodes.
    memory_mb : float
        Memory with every node's ClientApp running (a message wave), in MiB.
    wave_cpu_s : float
        CPU-seconds of one message wave: every node's ClientApp (and, in a secure
        training wave, its obfuscator pool).
    """

    clients: int
    memory_mb: float
    wave_cpu_s: float

    @classmethod
    def of(cls, clients: int, secure: bool, machine: Machine) -> FederationNeeds:
        """The figures above for ``clients`` SuperNodes, secure or plain, on ``machine``."""
        pool = machine.pool_workers if secure else 0
        node_mb = NODE_MB + CLIENTAPP_MB + pool * POOL_WORKER_MB
        node_cpu_s = CLIENTAPP_CPU_S + pool * POOL_WORKER_CPU_S
        return cls(clients, SERVER_MB + clients * node_mb, clients * node_cpu_s)

    def wave_s(self, machine: Machine) -> float:
        """The least wall time of a message wave on ``machine``'s cores."""
        return self.wave_cpu_s / machine.cores

    def fits(self, machine: Machine, round_timeout: float) -> bool:
        """Whether the wave fits in memory and finishes within ``round_timeout``.

        A message wave that takes longer than ``round-timeout`` (every message's TTL,
        and the bound on waiting for replies) loses the nodes still computing.
        """
        return self.memory_mb <= machine.memory_mb and self.wave_s(machine) <= round_timeout


def largest_federation(secure: bool, round_timeout: float, machine: Machine) -> int:
    """The most SuperNodes ``machine`` holds (0 if not even one)."""
    one = FederationNeeds.of(1, secure, machine)
    by_memory = (machine.memory_mb - SERVER_MB) / (one.memory_mb - SERVER_MB)
    by_cpu = round_timeout * machine.cores / one.wave_cpu_s
    return max(0, math.floor(min(by_memory, by_cpu)))


def check_capacity(
    clients: int, secure: bool, round_timeout: float, machine: Machine | None = None
) -> FederationNeeds:
    """Refuse a federation larger than the machine can hold; return what it needs.

    Parameters
    ----------
    clients : int
        SuperNodes asked for.
    secure : bool
        Secure (Paillier) aggregation: each training ClientApp also runs a pool.
    round_timeout : float
        The run's ``round-timeout``, in seconds: a message wave must end within it.
    machine : Machine, optional
        Default: this machine, now.

    Raises
    ------
    CapacityError
        Saying what the federation needs, what the machine has, and what to do.
    """
    machine = machine or Machine.here()
    needs = FederationNeeds.of(clients, secure, machine)
    if needs.fits(machine, round_timeout):
        return needs
    kind = "a secure" if secure else "a plain"
    problems = []
    if needs.memory_mb > machine.memory_mb:
        problems.append(
            f"~{needs.memory_mb / 1024:.1f} GB of memory at {kind} round's peak, and this "
            f"machine has {machine.memory_mb / 1024:.1f} GB available"
        )
    if needs.wave_s(machine) > round_timeout:
        problems.append(
            f"~{needs.wave_cpu_s:.0f} CPU-seconds per message wave, ~{needs.wave_s(machine):.0f} s "
            f"on its {machine.cores} core(s), longer than --round-timeout {round_timeout:g} s"
        )
    most = largest_federation(secure, round_timeout, machine)
    fixes = [f"--clients {most} (the most it holds)"] if most >= 2 else []
    if needs.memory_mb <= machine.memory_mb:  # time alone: a longer round-timeout does it
        fixes.append(f"--round-timeout {math.ceil(needs.wave_s(machine))}")
    fixes.append("--force to start them anyway")
    raise CapacityError(
        f"--clients {clients}: {clients} SuperNodes need {'; and '.join(problems)} — "
        f"run with {', or '.join(fixes)}"
    )


NodeConfig = Mapping[str, object]
# Set by LocalDeployment for node i; node_config may not change them.
PARTITION_KEYS = ("partition-id", "num-partitions")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def config_arg(values: Mapping[str, object]) -> str:
    """``key=value ...`` as Flower's ``--run-config`` and ``--node-config`` parse it (TOML values).

    Raises
    ------
    RunConfigError
        For a key that is not a bare TOML key, or a value Flower's parser
        cannot carry (not bool/int/float/str; a string with both quote kinds
        or a line break): a value the user gave, such as a results folder.
    """
    parts = []
    for key, value in values.items():
        if not _BARE_KEY.fullmatch(key):
            raise RunConfigError(f"config key {key!r}: expected letters, digits, '-' and '_' only")
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
            raise RunConfigError(
                f"config {key} = {value!r}: expected a bool, int, float, or a one-line "
                "string without both kinds of quotes — choose another value (a folder name "
                "without quotes, for one)"
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
    start_batch : int
        SuperNodes started at once: each batch after the first waits until the
        previous one's nodes have connected (``start_supernodes``).
    on_nodes_up : callable, optional
        Called with the number of SuperNodes connected so far after each batch
        but the last.

    Raises
    ------
    ValueError
        If ``node_config`` sets ``partition-id`` or ``num-partitions``, a
        value ``--node-config`` cannot carry (see ``config_arg``), or
        ``start_batch`` is below 1.
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
        start_batch: int = START_BATCH,
        on_nodes_up: Callable[[int], None] = lambda up: None,
    ) -> None:
        if start_batch < 1:
            raise ValueError(f"start_batch = {start_batch}: expected at least 1")
        self.clients = clients
        self.start_batch = start_batch
        self.on_nodes_up = on_nodes_up
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

    def start_supernodes(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start one SuperNode per partition, ``start_batch`` at a time.

        Each batch waits until every node of the one before has connected to
        the SuperLink (its log says so), so however large the federation, at
        most ``start_batch`` nodes are starting at any moment. The last batch
        connects while the run is submitted (the ServerApp waits for nodes, and
        says which are missing): no deployment waits for it twice.

        Parameters
        ----------
        timeout : float
            Seconds each batch may take to connect.

        Raises
        ------
        DeploymentError
            If a SuperNode exits, or a batch has not connected within ``timeout``
            (the caller stops what was started: ``LocalDeployment`` is a context
            manager).
        """
        for first in range(len(self.supernodes), self.clients, self.start_batch):
            batch = range(first, min(first + self.start_batch, self.clients))
            logs = {i: _LogFollower(self.logs / f"supernode-{i}.log") for i in batch}
            for i in batch:
                self.supernodes.append(self._start_supernode(i))
            if batch.stop < self.clients:
                self._wait_connected(logs, timeout)
                self.on_nodes_up(batch.stop)

    def _start_supernode(self, i: int) -> subprocess.Popen:
        # With TLS, the SuperNode verifies the SuperLink against the CA and serves its
        # own runtime API (to its ClientApp processes) over TLS too.
        security = (
            ["--insecure"]
            if self.tls is None
            else ["--root-certificates", str(self.tls.ca_cert), *self._server_security()]
        )
        # `process` isolation: the SuperNode waits for a SuperExec that nobody starts.
        isolation = ["--isolation", "process"] if i in self.unresponsive else []
        return self._spawn(
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

    def _wait_connected(self, logs: Mapping[int, _LogFollower], timeout: float) -> None:
        """Wait until each SuperNode in ``logs`` (index: its log) logs ``NODE_CONNECTED``.

        Raises
        ------
        DeploymentError
            Naming the first SuperNode that exited, or those not connected
            within ``timeout`` seconds, with the end of its log.
        """
        waiting = dict(logs)
        deadline = time.monotonic() + timeout
        while True:
            for i, log in list(waiting.items()):
                if any(NODE_CONNECTED in line for line in log.new_lines()):
                    del waiting[i]
                elif self.supernodes[i].poll() is not None:
                    raise DeploymentError(
                        f"SuperNode {i} exited (code {self.supernodes[i].returncode}) before "
                        f"it connected to the SuperLink:\n{self.log_tail(f'supernode-{i}')}"
                    )
            if not waiting:
                return
            if time.monotonic() > deadline:
                late = sorted(waiting)
                raise DeploymentError(
                    f"SuperNode(s) {', '.join(map(str, late))} did not connect to the SuperLink "
                    f"within {timeout:.0f} s:\n{self.log_tail(f'supernode-{late[0]}')}"
                )
            time.sleep(POLL_S)

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
