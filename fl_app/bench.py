"""``fl-spam bench``: what secure aggregation costs, against physics and against plain FedAvg.

Everything is measured in one run on this machine; ratios come from the same
run. Per value, the book's ``phe`` against the packed codec; per round, plain
against secure, in process (``LocalGrid``), under ``flwr run`` (Ray
simulation) and in a real 10-SuperNode deployment on loopback. Each secure
round is set against its CPU floor, ``clients x ciphertexts x (one
exponentiation) / cores``: the obfuscators ``r^n mod n^2`` it cannot do
without, on every core.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
from flwr.app import Message
from flwr.serverapp.strategy import FedAvg
from phe import paillier

from clients import secure_chain
from clients.model import SpamModel
from strategies import masks, paillier_math, tree_walk, wire
from strategies.chain import DEFAULT_FANIN, PaillierChainFedAvg
from strategies.codec import CodecParams, decode, encode
from strategies.keys import generate_keypair
from strategies.parallel import WORKERS
from strategies.wire import NODE_ALLOW_PLAIN

from .client_app import app as client_app
from .config import RunConfig
from .dataset import load_data
from .deploy import LocalDeployment
from .local_grid import run_strategy

FLWR_RUN_TIMEOUT_S = 1200.0
CORPUS = "sms"  # real mail, the default corpus: 8,940 weights, 169 ciphertexts per client
SIZES = (3, 10, 100)  # clients per round, in process and under flwr run
DEPLOYMENT_CLIENTS = 10
FANINS = (1, 2, 4, 8, 16)  # the fan-in sweep, in process at 10 clients
# Done-criteria the figures are judged on: (figure, limit).
CRITERIA = {
    "deployment_secure_over_plain_10": 3.0,
    "in_process_over_floor_100": 1.5,
    "flwr_run_over_floor_100": 1.5,
}
# flwr run: Flower's default is a fresh `uv sync` environment per run, which costs start-up
# only (and makes Ray's first round import everything cold); the bench runs the app in this
# environment, as the deployment's SuperNodes do.
NO_DEPENDENCY_INSTALL = {"FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1"}

Progress = Callable[[str], None]


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class Physics:
    """The floor a secure round is measured against: exponentiations ``r^n mod n^2`` on every core.

    Its time is sampled before each measurement (the machine may be busier at
    some times than at others) and the median of all samples is used.
    """

    def __init__(self, n: int, cores: int | None = None) -> None:
        self.n = n
        self.cores = cores or WORKERS.workers
        self.samples: list[float] = []

    def sample(self, count: int = 5) -> None:
        """Time ``count`` more exponentiations, in this process, with the worker pool idle."""
        WORKERS.discard_ahead()
        for _ in range(count):
            start = time.perf_counter()
            paillier_math.random_obfuscator(self.n)
            self.samples.append(time.perf_counter() - start)

    @property
    def exponentiation_s(self) -> float:
        """Median time of one exponentiation."""
        if not self.samples:
            self.sample(9)
        return statistics.median(self.samples)

    def floor_s(self, clients: int, ciphertexts: int) -> float:
        """CPU floor of one secure round: every client's obfuscators, spread over every core."""
        return clients * ciphertexts * self.exponentiation_s / self.cores


def phe_per_weight(public_key: paillier.PaillierPublicKey, sample: int) -> dict[str, float]:
    """The book's way: ``encrypt(float)`` per weight, on a sample; seconds and bytes per weight."""
    values = np.random.default_rng(0).normal(0, 0.1, sample)
    start = time.perf_counter()
    encrypted = [public_key.encrypt(float(v)) for v in values]
    seconds = (time.perf_counter() - start) / sample
    # As the book ships them: each ciphertext an int below n^2, plus its exponent.
    size = paillier_math.ciphertext_width(public_key.n) + 4
    return {"encrypt_s": seconds, "bytes": size, "sample": sample, "check": len(encrypted)}


def codec_per_weight(
    public_key: paillier.PaillierPublicKey, private_key: paillier.PaillierPrivateKey, weights: int
) -> dict[str, float]:
    """Encrypt (obfuscators included, cold), add and decrypt per weight with the packed codec
    (random updates: the codec's cost does not depend on the data)."""
    WORKERS.discard_ahead()
    n = public_key.n
    params = CodecParams(n.bit_length(), weights)
    rng = np.random.default_rng(1)
    deltas = [rng.normal(0, 0.05, weights) for _ in range(2)]
    start = time.perf_counter()
    plaintexts, _ = encode(deltas[0], 100, params)
    first = paillier_math.encrypt_many(n, plaintexts, WORKERS.obfuscators(n, len(plaintexts)))
    encrypt_s = time.perf_counter() - start
    second_plain, _ = encode(deltas[1], 200, params)
    second = paillier_math.encrypt_many(n, second_plain, WORKERS.obfuscators(n, len(second_plain)))
    start = time.perf_counter()
    total = paillier_math.add(n, first, second)
    add_s = time.perf_counter() - start
    start = time.perf_counter()
    aggregate = decode(WORKERS.decrypt(private_key, total), 2, params)
    decrypt_s = time.perf_counter() - start
    exact = (100 * deltas[0] + 200 * deltas[1]) / 300
    return {
        "weights": weights,
        "key_bits": n.bit_length(),
        "slots_per_ciphertext": params.slots_per_plaintext,
        "ciphertexts": params.num_plaintexts,
        "encrypt_s": encrypt_s / weights,
        "add_s": add_s / weights,
        "decrypt_s": decrypt_s / weights,
        "max_abs_error": float(np.abs(aggregate.mean_delta - exact).max()),
    }


@contextmanager
def _masks_and_checks_off() -> Iterator[None]:
    """For measuring only: zero masks and no client-side checks, to see what they cost."""
    saved = masks.mask, masks.correction, secure_chain._require
    masks.mask = lambda self_seed, pair_seeds, my_id, n, count: [0] * count
    masks.correction = lambda self_seed, pair_seeds, my_id, dropped, n, count: [0] * count
    secure_chain._require = lambda ok, problem: None
    try:
        yield
    finally:
        masks.mask, masks.correction, secure_chain._require = saved


def _with_floor(entry: dict, physics: Physics, seconds_key: str) -> dict:
    """``entry`` with its round's CPU floor and the secure time over it (None without a time)."""
    floor = physics.floor_s(entry["clients"], entry["ciphertexts"])
    seconds = entry.get(seconds_key)
    return {**entry, "floor_s": floor, "paillier_over_floor": seconds / floor if seconds else None}


@dataclass(frozen=True)
class _SecureRun:
    """One secure round in process: its time, its aggregate and what crossed the wire."""

    seconds: float
    message_depth: int
    ready: float  # obfuscators the worker pool had ready
    waited: float  # obfuscators waited for
    aggregate: list[np.ndarray]
    codec: CodecParams
    envelope_sizes: list[int]  # bytes of every envelope a client sealed


def _envelope_sizes(replies: list[Message]) -> list[int]:
    """Bytes of every envelope among the chain replies (a root's carries a total instead)."""
    sizes = []
    for reply in replies:
        if reply.metadata.message_type != wire.CHAIN:
            continue
        record = reply.content.config_records[wire.RECORD]
        if wire.ENVELOPE in record:
            sizes.append(len(wire.read_bytes(record, wire.ENVELOPE)))
    return sizes


def round_times(
    clients: int,
    repeats: int = 1,
    corpus: str = CORPUS,
    *,
    fanins: Sequence[int] = (DEFAULT_FANIN,),
    masks_and_checks: bool = False,
    keypair: tuple | None = None,
    physics: Physics | None = None,
    progress: Progress = lambda s: None,
) -> dict:
    """One round in process (``LocalGrid``, no Ray): plain FedAvg against the secure round.

    The secure round runs once per fan-in in ``fanins`` (``repeats`` times each,
    median); the entry's own figures are those of the default fan-in (or the
    first), with the rest under ``by_fanin``. ``masks_and_checks`` also times
    the secure round with its masks and client checks switched off
    (interleaved with the real one, so that drift on a noisy machine hits both
    alike). The key is made beforehand: a run makes it once, not per round.
    """
    cfg = RunConfig(num_clients=clients, min_clients=min(3, clients), corpus=corpus)
    data = load_data(cfg)
    initial = [SpamModel.zeros(len(data.vocabulary)).weights]
    train = cfg.train_config()
    keypair = keypair or generate_keypair()
    physics = physics or Physics(keypair[0].n)
    plain: list[list[np.ndarray]] = []  # each plain round's aggregate

    def plain_round() -> None:
        fedavg = FedAvg(min_train_nodes=clients, min_available_nodes=clients, fraction_evaluate=0.0)
        plain.append(
            run_strategy(fedavg, client_app, clients, cfg.to_dict(), initial, train, plain=True)[0]
        )

    def secure_round(fanin: int) -> _SecureRun:
        physics.sample()  # also drops what an earlier measurement computed ahead
        strategy = PaillierChainFedAvg(
            min_clients=cfg.min_clients,
            chain_fanin=fanin,
            keypair=keypair,
            min_train_nodes=clients,
            min_available_nodes=clients,
            fraction_evaluate=0.0,
        )
        before = WORKERS.stats()
        start = time.perf_counter()
        arrays, grid = run_strategy(strategy, client_app, clients, cfg.to_dict(), initial, train)
        seconds = time.perf_counter() - start
        after = WORKERS.stats()
        if strategy.codec is None or grid.result is None:
            raise RuntimeError("the secure round left no codec or no result")
        return _SecureRun(
            seconds=seconds,
            message_depth=wire.read_int(grid.result.train_metrics_clientapp[1], "message_depth"),
            ready=after["ready"] - before["ready"],
            waited=after["waited"] - before["waited"],
            aggregate=arrays,
            codec=strategy.codec,
            envelope_sizes=_envelope_sizes(grid.received),
        )

    def unmasked_round() -> float:
        with _masks_and_checks_off():
            return secure_round(DEFAULT_FANIN).seconds

    plain_s = _median_time(plain_round, 3 if clients <= 10 else 1)
    main = DEFAULT_FANIN if DEFAULT_FANIN in fanins else fanins[0]
    by_fanin: list[dict[str, float]] = []
    unmasked_times: list[float] = []
    checked: _SecureRun | None = None  # the default fan-in's last real round
    # The default fan-in first: its aggregate is checked.
    for fanin in sorted(fanins, key=lambda k: k != main):
        if len(fanins) > 1:
            progress(f"rounds in process, {clients} clients, fan-in {fanin}")
        runs: list[_SecureRun] = []
        for _ in range(repeats):
            if masks_and_checks and fanin == main:
                unmasked_times.append(unmasked_round())
            # The real protocol last: its aggregate is the one checked.
            runs.append(secure_round(fanin))
        if fanin == main:
            checked = runs[-1]
        ready, waited = sum(r.ready for r in runs), sum(r.waited for r in runs)
        by_fanin.append(
            {
                "fanin": fanin,
                "paillier_s": statistics.median(r.seconds for r in runs),
                "message_depth": runs[-1].message_depth,
                "planned_depth": tree_walk.depth(clients, fanin),
                "obfuscators_ready": ready,
                "obfuscators_waited": waited,
                "ready_share": ready / (ready + waited) if ready + waited else 0.0,
            }
        )
    if checked is None:
        raise RuntimeError(f"no secure round ran at fan-in {main}")
    codec = checked.codec
    own = next(f for f in by_fanin if f["fanin"] == main)
    unmasked_s = statistics.median(unmasked_times) if unmasked_times else None
    entry: dict[str, object] = {
        "clients": clients,
        "weights": codec.num_weights,
        "ciphertexts": codec.num_plaintexts,
        "plain_s": plain_s,
        **own,
        "ratio": own["paillier_s"] / plain_s,
        "without_masks_and_checks_s": unmasked_s,
        "masks_and_checks_overhead": own["paillier_s"] / unmasked_s - 1 if unmasked_s else None,
        "envelope_bytes_per_weight": statistics.mean(checked.envelope_sizes) / codec.num_weights,
        "max_abs_diff": float(np.abs(checked.aggregate[0] - plain[-1][0]).max()),
        "corpus": data.corpus,
    }
    if len(fanins) > 1:
        entry["by_fanin"] = sorted(by_fanin, key=lambda f: f["fanin"])
    return entry


def _round_of(result: dict, number: int) -> dict:
    return next(r for r in result["rounds"] if r["round"] == number)


def _plain_waves(round_entry: dict) -> int:
    """Sequential message waves of a plain round: training, and federated evaluation if it ran."""
    return 1 + ("federated" in round_entry)


def _run_config(
    aggregation: str, clients: int, rounds: int, workdir: Path, name: str
) -> dict[str, object]:
    return {
        "aggregation": aggregation,
        "num-server-rounds": rounds,
        "num-clients": clients,
        "corpus": CORPUS,
        "results-dir": str(workdir / "results" / name),
        "checkpoint-dir": str(workdir / "checkpoints" / name),
    }


def flwr_run_times(
    sizes: Sequence[int] = SIZES,
    physics: Physics | None = None,
    progress: Progress = lambda s: None,
) -> list[dict]:
    """Plain and secure rounds under ``flwr run .`` (Ray simulation), ``num_supernodes`` = clients.

    Every run uses one private simulation SuperLink started beforehand (stopped
    afterwards), so none pays its start-up. Ray starts with each run and its
    start-up falls into the first round: plain runs two rounds, and the
    difference of its first and second round (``startup_in_first_round_s``) is
    taken off the secure run's one round (``paillier_first_round_s``, as
    measured) to give ``paillier_s``; ``first_round_over_floor`` sets the
    round as measured against the floor. Round times are the server's (results
    JSON ``round_s``: training, aggregation, federated evaluation).
    """
    physics = physics or Physics(generate_keypair()[0].n)
    entries = []
    with tempfile.TemporaryDirectory(prefix="fl-spam-bench-") as workdir:
        simulation = LocalDeployment(0, Path(workdir), simulation=True)
        simulation.env.update(NO_DEPENDENCY_INSTALL)
        with simulation:
            for clients in sizes:
                runs, run_s = {}, {}
                for aggregation, rounds in (("plain", 2), ("paillier", 1)):
                    progress(f"flwr run . (Ray simulation), {clients} clients, {aggregation}")
                    physics.sample()
                    start = time.perf_counter()
                    runs[aggregation] = simulation.run(
                        _run_config(
                            aggregation, clients, rounds, Path(workdir), f"{aggregation}-{clients}"
                        ),
                        timeout=FLWR_RUN_TIMEOUT_S,
                        federation_config=f"num_supernodes={clients}",
                    )
                    run_s[aggregation] = time.perf_counter() - start
                plain_first, plain = _round_of(runs["plain"], 1), _round_of(runs["plain"], 2)
                secure = _round_of(runs["paillier"], 1)
                startup = max(0.0, plain_first["round_s"] - plain["round_s"])
                secure_s = secure["round_s"] - startup
                entries.append(
                    _with_floor(
                        {
                            **_compared_runs(clients, runs, run_s, physics),
                            "plain_first_round_s": plain_first["round_s"],
                            "plain_s": plain["round_s"],
                            "plain_message_waves": _plain_waves(plain),
                            "startup_in_first_round_s": startup,
                            "paillier_first_round_s": secure["round_s"],
                            "paillier_s": secure_s,
                            "ratio": secure_s / plain["round_s"],
                            "message_depth": secure.get("message_depth"),
                            "planned_depth": tree_walk.depth(
                                clients, runs["paillier"]["config"]["chain-fanin"]
                            ),
                            # After round 1, as the secure run's:
                            "plain_accuracy": plain_first["accuracy"],
                            "paillier_accuracy": secure["accuracy"],
                        },
                        physics,
                        "paillier_s",
                    )
                )
    return entries


def _compared_runs(clients: int, runs: dict, run_s: dict, physics: Physics) -> dict:
    """The fields an entry comparing a plain and a secure run (``runs``, their results files,
    and ``run_s``, their times) over ``clients`` starts with."""
    return {
        "clients": clients,
        "ciphertexts": _ciphertexts(runs["paillier"]["config"], physics),
        "plain_run_s": run_s["plain"],
        "paillier_run_s": run_s["paillier"],
    }


def _ciphertexts(config: dict, physics: Physics) -> int:
    """Ciphertexts per client of a run with this (results-file) run-config: one per weight of
    the model on its corpus, packed as the server packs them."""
    weights = SpamModel.zeros(
        len(load_data(RunConfig(corpus=str(config["corpus"]))).vocabulary)
    ).weights.size
    return CodecParams(
        physics.n.bit_length(),
        weights,
        clip=float(config["clip"]),
        max_examples=int(config["max-examples"]),
    ).num_plaintexts


def deployment_times(
    clients: int = DEPLOYMENT_CLIENTS,
    physics: Physics | None = None,
    progress: Progress = lambda s: None,
) -> dict:
    """One plain and one secure run of one round on a real SuperLink and ``clients`` SuperNodes
    (loopback), every process stopped afterwards. Round times are the server's (``round_s``); a
    message wave's latency is the plain round's time over its waves (training and federated
    evaluation)."""
    physics = physics or Physics(generate_keypair()[0].n)
    runs, run_s = {}, {}
    with tempfile.TemporaryDirectory(prefix="fl-spam-bench-deploy-") as workdir:
        progress(f"real deployment: SuperLink and {clients} SuperNodes starting")
        # One federation for both runs: its nodes allow plain rounds (a node answers them only
        # then), and still take part in the secure run's rounds only as secure ones.
        nodes = {"min-clients": 3, NODE_ALLOW_PLAIN: True}
        with LocalDeployment(clients, Path(workdir), node_config=nodes) as deployment:
            for aggregation in ("plain", "paillier"):
                progress(f"real deployment, {clients} SuperNodes, {aggregation}")
                physics.sample()
                config = {
                    **_run_config(aggregation, clients, 1, Path(workdir), aggregation),
                    "min-clients": 3,
                    "round-timeout": 120.0,
                }
                start = time.perf_counter()
                runs[aggregation] = deployment.run(config, timeout=FLWR_RUN_TIMEOUT_S)
                run_s[aggregation] = time.perf_counter() - start
        left = deployment.stop()
    plain, secure = _round_of(runs["plain"], 1), _round_of(runs["paillier"], 1)
    waves = _plain_waves(plain)
    return _with_floor(
        {
            **_compared_runs(clients, runs, run_s, physics),
            "plain_s": plain["round_s"],
            "plain_message_waves": waves,
            "wave_latency_s": plain["round_s"] / waves,
            "paillier_s": secure["round_s"],
            "ratio": secure["round_s"] / plain["round_s"],
            "message_depth": secure.get("message_depth"),
            "planned_depth": tree_walk.depth(clients, runs["paillier"]["config"]["chain-fanin"]),
            "plain_accuracy": runs["plain"]["accuracy"],
            "paillier_accuracy": runs["paillier"]["accuracy"],
            "processes_left": len(left),
        },
        physics,
        "paillier_s",
    )


def fanin_choice(sweep: list[dict], wave_latency_s: float) -> dict:
    """Estimated deployment round per fan-in: the in-process secure round plus its message depth
    times the measured latency of one message wave; the fan-in that minimises it."""
    rows = [
        {
            **row,
            "estimated_deployment_round_s": row["paillier_s"]
            + row["message_depth"] * wave_latency_s,
        }
        for row in sweep
    ]
    best = min(rows, key=lambda r: r["estimated_deployment_round_s"])
    return {"wave_latency_s": wave_latency_s, "by_fanin": rows, "best_fanin": best["fanin"]}


def training_throughput(repeats: int = 5) -> float:
    """E-mails per second of one local epoch on the bench corpus's training set."""
    data = load_data(RunConfig(corpus=CORPUS))
    seconds = _median_time(
        lambda: SpamModel.zeros(len(data.vocabulary)).fit(data.train, epochs=1), repeats
    )
    return len(data.train) / seconds


def machine() -> dict[str, object]:
    """Where the figures come from."""
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        **{lib: version(lib) for lib in ("flwr", "numpy", "phe", "gmpy2", "cryptography")},
    }


def _criteria(in_process: dict | None, flwr_run: dict | None, deployment: dict | None) -> dict:
    """Each done-criterion: its figure, its limit, whether it is met (``None``: not measured)."""
    figures = {
        "deployment_secure_over_plain_10": deployment["ratio"] if deployment else None,
        "in_process_over_floor_100": in_process["paillier_over_floor"] if in_process else None,
        "flwr_run_over_floor_100": flwr_run["paillier_over_floor"] if flwr_run else None,
    }
    return {
        name: {
            "value": value,
            "limit": CRITERIA[name],
            "met": None if value is None else value <= CRITERIA[name],
        }
        for name, value in figures.items()
    }


def run_bench(quick: bool = False, progress: Progress = lambda s: None) -> dict:
    """All measurements; ``quick`` keeps it under a minute (10k weights, 2048 bits, one 3-client
    round in process; no flwr run, no deployment: it starts neither Ray nor SuperNodes)."""
    phases: dict[str, float] = {}
    started = time.perf_counter()
    load_before = os.getloadavg()

    @contextmanager
    def phase(name: str) -> Iterator[None]:
        progress(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            phases[name] = round(time.perf_counter() - start, 2)

    with phase("keys and worker pool"):
        keys = {bits: generate_keypair(bits) for bits in ((2048,) if quick else (2048, 3072))}
        # Start the worker processes first: a one-off cost per process, not per weight.
        WORKERS.obfuscators(keys[2048][0].n, WORKERS.workers)
        physics = Physics(keys[2048][0].n)
        physics.sample(15)
    with phase("phe encrypt(float) per value"):
        phe = {
            bits: phe_per_weight(pub, 30 if quick else 200 if bits == 2048 else 30)
            for bits, (pub, _) in keys.items()
        }
    codec = []
    sizes = {2048: (10_000,) if quick else (10_000, 30_000), 3072: (10_000,)}
    reference = 10_000 if quick else 30_000
    for bits, (pub, priv) in keys.items():
        for size in sizes[bits]:
            with phase(f"codec: {size} weights at {bits} bits"):
                codec.append(codec_per_weight(pub, priv, size))
    ref = next(c for c in codec if c["key_bits"] == 2048 and c["weights"] == reference)
    rounds: dict[int, dict] = {}
    with phase("rounds in process, 3 clients"):
        rounds[3] = round_times(
            3, 1 if quick else 2, masks_and_checks=True, keypair=keys[2048], physics=physics
        )
    if not quick:
        with phase(f"rounds in process, 10 clients, fan-in {', '.join(map(str, FANINS))}"):
            rounds[10] = round_times(
                10, 1, fanins=FANINS, keypair=keys[2048], physics=physics, progress=progress
            )
        with phase("rounds in process, 100 clients"):
            rounds[100] = round_times(100, 1, keypair=keys[2048], physics=physics)
    sim: list[dict] | None = None
    deployment: dict | None = None
    if not quick:
        with phase("flwr run . (Ray simulation), 3, 10 and 100 clients"):
            sim = flwr_run_times(SIZES, physics, progress)
        with phase(f"real deployment, {DEPLOYMENT_CLIENTS} SuperNodes"):
            deployment = deployment_times(DEPLOYMENT_CLIENTS, physics, progress)
    with phase("local training throughput"):
        throughput = training_throughput()
    # Floors last, all from one figure: the median of every exponentiation timed during the bench.
    in_process = {
        clients: _with_floor(entry, physics, "paillier_s") for clients, entry in rounds.items()
    }
    sim = [_with_floor(entry, physics, "paillier_s") for entry in sim] if sim else None
    for entry in sim or []:
        entry["first_round_over_floor"] = entry["paillier_first_round_s"] / entry["floor_s"]
    deployment = _with_floor(deployment, physics, "paillier_s") if deployment else None
    by_size = {entry["clients"]: entry for entry in sim or []}
    fanin = (
        fanin_choice(in_process[10]["by_fanin"], deployment["wave_latency_s"])
        if deployment
        else None
    )
    round_3 = in_process[3]

    def per_size(source: dict[int, dict], key: str) -> dict[str, float | None]:
        return {
            str(clients): source[clients][key] if clients in source else None for clients in SIZES
        }

    return {
        "quick": quick,
        "corpus": round_3["corpus"],
        "reference_weights": reference,
        "phe_encrypt_s_per_weight": phe[2048]["encrypt_s"],
        "codec_encrypt_s_per_weight": ref["encrypt_s"],
        "speedup_vs_phe": phe[2048]["encrypt_s"] / ref["encrypt_s"],
        "bytes_per_weight": round_3["envelope_bytes_per_weight"],
        "phe_bytes_per_weight": phe[2048]["bytes"],
        "exponentiation_s": physics.exponentiation_s,
        "cores": physics.cores,
        "round_ratio_3": round_3["ratio"],
        "round_ratio_10": in_process[10]["ratio"] if 10 in in_process else None,
        "masks_and_checks_overhead_3": round_3["masks_and_checks_overhead"],
        "round_ratio": per_size(in_process, "ratio"),
        "over_floor": per_size(in_process, "paillier_over_floor"),
        "ready_share": per_size(in_process, "ready_share"),
        "sim_round_ratio": per_size(by_size, "ratio") if sim else None,
        "sim_over_floor": per_size(by_size, "paillier_over_floor") if sim else None,
        "deployment_round_ratio_10": deployment["ratio"] if deployment else None,
        "best_fanin": fanin["best_fanin"] if fanin else None,
        "criteria": _criteria(in_process.get(100), by_size.get(100), deployment),
        "train_emails_per_s": throughput,
        "phe": {str(bits): v for bits, v in phe.items()},
        "codec": codec,
        "rounds": [in_process[clients] for clients in sorted(in_process)],
        "flwr_run": sim,
        "deployment": deployment,
        "fanin": fanin,
        "phases_s": phases,
        "total_s": round(time.perf_counter() - started, 2),
        "machine": {
            **machine(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
    }
