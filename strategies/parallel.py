"""Paillier work on every core: obfuscators computed ahead, decryption in parallel.

An obfuscator ``r^n mod n^2`` costs one 2048-bit modular exponentiation
(~8 ms) and does not depend on the data, so a client computes them off the
critical path: this round's while it trains, and the next round's as soon as
it has encrypted this one's (while it waits for the tree), spread over a
process pool (gmpy2 holds the GIL, so threads would not help), within a
memory bound. Obfuscators never leave the process that computed them and
each is handed out exactly once. ``stats`` says how many were ready when
asked for (their exponentiations left the critical path) and how many were
waited for.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from logging import WARNING

from phe import paillier

from .paillier_math import random_obfuscator

log = logging.getLogger(__name__).log

# Obfuscators per task: large enough to amortise inter-process overhead
# (~0.1 ms per task), small enough to spread evenly over the workers.
BATCH = 8
# Obfuscators computed ahead (in stock or pending) take at most this much memory
# per process: 4096 bits each for a 2048-bit key, so 64 MiB holds about 130,000.
DEFAULT_MAX_AHEAD_BYTES = 64 << 20


def _bytes(n: int) -> int:
    """The size of one obfuscator (an integer below n^2)."""
    return (2 * n.bit_length() + 7) // 8


def _obfuscator_batch(n: int, count: int) -> list[int]:
    return [random_obfuscator(n) for _ in range(count)]


def _decrypt_batch(n: int, p: int, q: int, ciphertexts: list[int]) -> list[int]:
    key = paillier.PaillierPrivateKey(paillier.PaillierPublicKey(n), p, q)
    return [key.raw_decrypt(c) for c in ciphertexts]


class PaillierWorkers:
    """A process pool for obfuscators (with a per-key stock) and decryption.

    Parameters
    ----------
    workers : int, optional
        Processes; default: every core.
    max_ahead_bytes : int
        Memory bound on obfuscators computed ahead of need (stock and pending).
    """

    def __init__(
        self, workers: int | None = None, max_ahead_bytes: int = DEFAULT_MAX_AHEAD_BYTES
    ) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.max_ahead_bytes = max_ahead_bytes
        self.ready = 0  # obfuscators handed out that were computed when asked for
        self.waited = 0  # ... that were not
        self._executor: ProcessPoolExecutor | None = None
        self._stock: dict[int, list[int]] = {}
        self._pending: dict[int, list[Future]] = {}
        self._lock = threading.Lock()
        self.broken = False

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # spawn, not fork: Flower and Ray processes run threads (gRPC), which fork breaks.
            context = multiprocessing.get_context("spawn")
            self._executor = ProcessPoolExecutor(self.workers, mp_context=context)
        return self._executor

    def _fall_back(self, exc: BaseException) -> None:
        # Spawned workers re-import the main script; one without an
        # ``if __name__ == "__main__"`` guard (or stdin) kills them. Work on serially.
        if not self.broken:
            log(WARNING, "Paillier worker processes failed (%s); computing in this process", exc)
        self.broken = True
        self._pending.clear()

    def _ahead(self, n: int) -> int:
        """Obfuscators for ``n`` in stock or pending (caller holds the lock)."""
        return len(self._stock.get(n, [])) + BATCH * len(self._pending.get(n, []))

    def prefetch(self, n: int, count: int) -> None:
        """Have ``count`` obfuscators for key ``n`` in stock or computing in the background,
        within ``max_ahead_bytes`` over every key."""
        with self._lock:
            ahead = sum(self._ahead(key) * _bytes(key) for key in {*self._stock, *self._pending})
            room = max(0, (self.max_ahead_bytes - ahead) // _bytes(n))
            missing = min(count - self._ahead(n), room)
        self._submit(n, missing)

    def _submit(self, n: int, count: int) -> None:
        if self.broken or count <= 0:
            return
        pool = self._pool()
        with self._lock:
            pending = self._pending.setdefault(n, [])
            for start in range(0, count, BATCH):
                pending.append(pool.submit(_obfuscator_batch, n, min(BATCH, count - start)))

    def stats(self) -> dict[str, float]:
        """Obfuscators handed out ready and waited for, and the share ready (off the
        critical path)."""
        total = self.ready + self.waited
        return {
            "ready": self.ready,
            "waited": self.waited,
            "ready_share": self.ready / total if total else 0.0,
        }

    def obfuscators(self, n: int, count: int) -> list[int]:
        """``count`` fresh obfuscators for key ``n``: from stock, pending work, or computed now.

        They are taken out of the stock in the same critical section that
        checks it, so two callers never share one: two ciphertexts with the
        same ``r`` would reveal the difference of their plaintexts.
        """
        counted = False
        while True:
            with self._lock:
                stock = self._stock.setdefault(n, [])
                pending = self._pending.setdefault(n, [])
                if not counted:
                    done = len(stock) + sum(
                        len(f.result()) for f in pending if f.done() and not f.exception()
                    )
                    self.ready += min(count, done)
                    self.waited += count - min(count, done)
                    counted = True
                try:
                    while len(stock) < count and pending:
                        stock.extend(pending.pop(0).result())
                except BrokenProcessPool as exc:
                    self._fall_back(exc)
                if len(stock) < count and self.broken:
                    stock.extend(_obfuscator_batch(n, count - len(stock)))
                if len(stock) >= count:
                    taken = stock[:count]
                    del stock[:count]
                    return taken
                missing = count - len(stock)
            self._submit(n, missing)

    def discard_ahead(self) -> None:
        """Drop the stock, cancel pending work not started and wait for what is running:
        obfuscators computed for a next round that never comes must neither serve nor slow
        what follows (a benchmark's next measurement)."""
        with self._lock:
            pending = [f for futures in self._pending.values() for f in futures]
            self._pending.clear()
            self._stock.clear()
        for future in pending:
            future.cancel()
        wait([f for f in pending if not f.cancelled()])

    def decrypt(
        self, private_key: paillier.PaillierPrivateKey, ciphertexts: Sequence[int]
    ) -> list[int]:
        """``raw_decrypt`` (CRT) of every ciphertext, spread over the workers, in order."""
        n, p, q = private_key.public_key.n, private_key.p, private_key.q
        if self.broken:
            return _decrypt_batch(n, p, q, list(ciphertexts))
        size = max(1, -(-len(ciphertexts) // (self.workers * 4)))
        chunks = [list(ciphertexts[i : i + size]) for i in range(0, len(ciphertexts), size)]
        pool = self._pool()
        futures = [pool.submit(_decrypt_batch, n, p, q, chunk) for chunk in chunks]
        try:
            return [m for f in futures for m in f.result()]
        except BrokenProcessPool as exc:
            self._fall_back(exc)
            return _decrypt_batch(n, p, q, list(ciphertexts))

    def shutdown(self) -> None:
        """Stop the workers, dropping work not yet started."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self._stock.clear()
        self._pending.clear()


# One pool per process, shared by every key and every node the process serves.
WORKERS = PaillierWorkers()
atexit.register(WORKERS.shutdown)
