"""The obfuscator stock under concurrent callers: each obfuscator is handed out once."""

import threading
import time

from strategies.parallel import PaillierWorkers


class YieldingLock:
    """A lock that lets the other thread run right after every release.

    The worst legal interleaving.
    """

    def __init__(self):
        self._lock = threading.Lock()

    def __enter__(self):
        self._lock.acquire()

    def __exit__(self, *exc):
        self._lock.release()
        time.sleep(0.002)


def test_two_callers_never_get_the_same_obfuscator():
    workers = PaillierWorkers(1)
    workers.broken = True  # compute in this process: no pool needed for the race
    workers._lock = YieldingLock()
    n = 1000003 * 1000033
    workers._stock[n] = list(range(10_000, 10_400))  # distinct stand-ins for r^n mod n^2
    taken: list[list[int]] = [[], []]

    def take(i):
        for _ in range(20):
            taken[i].extend(workers.obfuscators(n, 5))

    threads = [threading.Thread(target=take, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    handed = taken[0] + taken[1]
    assert len(handed) == 200 and len(set(handed)) == 200


def test_obfuscators_ahead_are_topped_up_within_the_memory_bound_and_counted_when_ready():
    n = (2**127 - 1) * (2**89 - 1)
    size = (2 * n.bit_length() + 7) // 8
    workers = PaillierWorkers(1, max_ahead_bytes=size * 24)
    try:
        workers.prefetch(n, 16)
        workers.prefetch(n, 16)  # already 16 ahead: nothing more
        assert workers._ahead(n) == 16
        workers.prefetch(n, 1000)  # the bound: 24 at most (in batches of 8)
        assert workers._ahead(n) == 24
        for future in workers._pending[n]:
            future.result(timeout=60)
        assert len(set(workers.obfuscators(n, 24))) == 24
        assert workers.stats() == {"ready": 24, "waited": 0, "ready_share": 1.0}
        workers.obfuscators(n, 8)  # nothing ahead: computed while the caller waits
        assert workers.stats()["waited"] == 8
    finally:
        workers.shutdown()
