"""The obfuscator stock under concurrent callers: each obfuscator is handed out once."""

import threading
import time

from strategies.parallel import PaillierWorkers


class YieldingLock:
    """A lock that lets the other thread run right after every release: the worst legal interleaving."""

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
