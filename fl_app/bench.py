"""``fl-spam bench``: the book's per-value Paillier against the packed codec, side by side.

Everything is measured in one run on this machine; times are medians of
repeats, and ratios come from the same run.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

import numpy as np
from flwr.serverapp.strategy import FedAvg
from phe import paillier

from clients import secure_chain
from clients.model import SpamModel
from strategies import masks, paillier_math, wire
from strategies.chain import PaillierChainFedAvg
from strategies.codec import CodecParams, decode, encode
from strategies.keys import generate_keypair
from strategies.parallel import WORKERS

from .client_app import app as client_app
from .config import RunConfig
from .dataset import load_data
from .deploy import LocalDeployment
from .local_grid import run_strategy

FLWR_RUN_TIMEOUT_S = 1200.0


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def phe_per_weight(public_key: paillier.PaillierPublicKey, sample: int) -> dict[str, float]:
    """The book's way: ``encrypt(float)`` per weight, on a sample; seconds and bytes per weight."""
    values = np.random.default_rng(0).normal(0, 0.1, sample)
    start = time.perf_counter()
    encrypted = [public_key.encrypt(float(v)) for v in values]
    seconds = (time.perf_counter() - start) / sample
    # As the book ships them: each ciphertext an int below n^2, plus its exponent.
    wire = paillier_math.ciphertext_width(public_key.n) + 4
    return {"encrypt_s": seconds, "bytes": wire, "sample": sample, "check": len(encrypted)}


def codec_per_weight(public_key, private_key, weights: int) -> dict[str, float]:
    """Encrypt (obfuscators included, cold), add and decrypt per weight with the packed codec."""
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
    masks.mask = lambda seed, pairs, me, n, count: [0] * count  # type: ignore[assignment]
    masks.correction = lambda seed, pairs, me, dropped, n, count: [0] * count  # type: ignore[assignment]
    secure_chain._require = lambda ok, problem: None  # type: ignore[assignment]
    try:
        yield
    finally:
        masks.mask, masks.correction, secure_chain._require = saved


def round_times(clients: int, repeats: int, corpus: str = "synthetic") -> dict[str, float]:
    """One round, in-process (LocalGrid, no Ray): plain FedAvg vs the secure round, and the
    secure round with its masks and client checks switched off (what they cost)."""
    cfg = RunConfig(num_clients=clients, min_clients=min(3, clients), corpus=corpus)
    data = load_data(cfg)
    initial = [SpamModel.zeros(len(data.vocabulary)).weights]
    train = cfg.train_config()
    nodes = {"min_train_nodes": clients, "min_available_nodes": clients, "fraction_evaluate": 0.0}
    results: dict[str, list] = {}

    def plain_round():
        results["plain"] = run_strategy(FedAvg(**nodes), client_app, clients, cfg.to_dict(), initial, train)[0]

    def secure_round():
        # A fresh key each time: no obfuscator left over from an earlier measurement.
        strategy = PaillierChainFedAvg(min_clients=cfg.min_clients, **nodes)
        arrays, grid = run_strategy(strategy, client_app, clients, cfg.to_dict(), initial, train)
        results["secure"], results["codec"] = arrays, strategy.codec
        results["envelopes"] = [
            len(m.content[wire.RECORD][wire.ENVELOPE]) for m in grid.received
            if m.metadata.message_type == wire.CHAIN and wire.ENVELOPE in m.content[wire.RECORD]
        ]

    def unmasked_round():
        with _masks_and_checks_off():
            secure_round()

    plain_s = _median_time(plain_round, max(repeats, 3))
    secure_times, unmasked_times = [], []
    for _ in range(repeats):  # interleaved, so that drift on a noisy machine hits both alike;
        unmasked_times.append(_median_time(unmasked_round, 1))  # the real protocol last: its
        secure_times.append(_median_time(secure_round, 1))  # aggregate is the one checked
    secure_s, unmasked_s = statistics.median(secure_times), statistics.median(unmasked_times)
    codec: CodecParams = results["codec"]
    n = generate_keypair()[0].n
    exponentiation_s = _median_time(lambda: paillier_math.random_obfuscator(n), 9)
    floor_s = clients * codec.num_plaintexts * exponentiation_s / WORKERS.workers
    return {
        "clients": clients,
        "weights": codec.num_weights,
        "plain_s": plain_s,
        "paillier_s": secure_s,
        "ratio": secure_s / plain_s,
        "without_masks_and_checks_s": unmasked_s,
        "masks_and_checks_overhead": secure_s / unmasked_s - 1,
        "floor_s": floor_s,
        "paillier_over_floor": secure_s / floor_s,
        "envelope_bytes_per_weight": statistics.mean(results["envelopes"]) / codec.num_weights,
        "max_abs_diff": float(np.abs(results["secure"][0] - results["plain"][0]).max()),
        "corpus": data.corpus,
    }


def flwr_run_times(rounds: int = 3, clients: int = 3) -> dict[str, float]:
    """Whole-run wall time of ``flwr run .`` (Ray simulation), plain then Paillier.

    Both runs use one private simulation SuperLink started beforehand, so
    neither pays its start-up; it is stopped afterwards.
    """
    times: dict[str, float] = {}
    accuracy: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="fl-spam-bench-") as workdir:
        with LocalDeployment(0, Path(workdir), simulation=True) as superlink:
            for aggregation in ("plain", "paillier"):
                run_config = {
                    "aggregation": aggregation, "num-server-rounds": rounds, "num-clients": clients,
                    "results-dir": str(Path(workdir) / "results" / aggregation),
                    "checkpoint-dir": str(Path(workdir) / "checkpoints" / aggregation),
                }
                start = time.perf_counter()
                result = superlink.run(run_config, timeout=FLWR_RUN_TIMEOUT_S,
                                       federation_config=f"num_supernodes={clients}")
                times[aggregation] = time.perf_counter() - start
                accuracy[aggregation] = result["accuracy"]
    return {
        "rounds": rounds,
        "clients": clients,
        "plain_s": times["plain"],
        "paillier_s": times["paillier"],
        "ratio": times["paillier"] / times["plain"],
        "plain_accuracy": accuracy["plain"],
        "paillier_accuracy": accuracy["paillier"],
    }


def training_throughput(repeats: int = 5) -> float:
    """E-mails per second of one local epoch on the synthetic training set."""
    data = load_data(RunConfig(corpus="synthetic"))
    seconds = _median_time(lambda: SpamModel.zeros(len(data.vocabulary)).fit(data.train, epochs=1), repeats)
    return len(data.train) / seconds


def machine() -> dict[str, object]:
    """Where the figures come from."""
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        **{lib: version(lib) for lib in ("flwr", "numpy", "phe", "gmpy2", "cryptography")},
    }


def run_bench(quick: bool = False, progress: Callable[[str], None] = lambda s: None) -> dict:
    """All measurements; ``quick`` keeps it under a minute (10k weights, 2048 bits, one 3-client round on the
    SMS corpus, no flwr run)."""
    keys = {bits: generate_keypair(bits) for bits in ((2048,) if quick else (2048, 3072))}
    # Start the worker processes first: a one-off cost per process, not per weight.
    WORKERS.obfuscators(keys[2048][0].n, WORKERS.workers)
    sizes = (10_000,) if quick else (10_000, 30_000, 100_000)
    reference = 10_000 if quick else 30_000
    progress("phe encrypt(float) per value")
    phe = {bits: phe_per_weight(pub, 30 if quick else 200 if bits == 2048 else 60) for bits, (pub, _) in keys.items()}
    codec = []
    for bits, (pub, priv) in keys.items():
        for size in sizes:
            progress(f"codec: {size} weights at {bits} bits")
            codec.append(codec_per_weight(pub, priv, size))
    ref = next(c for c in codec if c["key_bits"] == 2048 and c["weights"] == reference)
    progress("rounds in-process, 3 clients")
    # Quick: the SMS corpus's 8,940 weights instead of the synthetic 20,000, half the ciphertexts.
    round_3 = round_times(3, 1, "sms") if quick else round_times(3, 3)
    round_10 = None
    if not quick:
        progress("rounds in-process, 10 clients")
        round_10 = round_times(10, 3)
    sim = None
    if not quick:
        progress("flwr run . (Ray simulation), plain and paillier")
        sim = flwr_run_times()
    progress("local training throughput")
    return {
        "quick": quick,
        "corpus": load_data(RunConfig(corpus="synthetic")).corpus,
        "reference_weights": reference,
        "phe_encrypt_s_per_weight": phe[2048]["encrypt_s"],
        "codec_encrypt_s_per_weight": ref["encrypt_s"],
        "speedup_vs_phe": phe[2048]["encrypt_s"] / ref["encrypt_s"],
        "bytes_per_weight": round_3["envelope_bytes_per_weight"],
        "phe_bytes_per_weight": phe[2048]["bytes"],
        "round_ratio_3": round_3["ratio"],
        "round_ratio_10": round_10["ratio"] if round_10 else None,
        "masks_and_checks_overhead_3": round_3["masks_and_checks_overhead"],
        "masks_and_checks_overhead_10": round_10["masks_and_checks_overhead"] if round_10 else None,
        "sim_round_ratio_3": sim["ratio"] if sim else None,
        "train_emails_per_s": training_throughput(),
        "phe": {str(bits): v for bits, v in phe.items()},
        "codec": codec,
        "rounds": [r for r in (round_3, round_10) if r],
        "flwr_run": sim,
        "machine": machine(),
    }
