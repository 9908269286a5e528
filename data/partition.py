"""Partitioners: split the training e-mails among N clients."""

from __future__ import annotations

import numpy as np

PARTITIONERS = ("book", "iid", "dirichlet")
# Dirichlet draws are repeated until every client holds at least this many
# e-mails (the usual practice, e.g. in Flower Datasets' DirichletPartitioner),
# or a quarter of an equal share when the training set is small.
MIN_PARTITION_SIZE = 10
MAX_DIRICHLET_TRIES = 100


def partition(
    labels: np.ndarray,
    num_clients: int,
    method: str = "book",
    alpha: float = 0.5,
    seed: int = 0,
) -> list[np.ndarray]:
    """Row indices of each client's shard of the training set.

    Parameters
    ----------
    labels : np.ndarray
        Label of every training e-mail (1 = spam).
    num_clients : int
        Number of shards.
    method : str
        ``"book"``: contiguous equal slices, like Bob, Alice and Sue;
        ``"iid"``: a random equal split; ``"dirichlet"``: label skew, each
        class divided among clients by proportions drawn from Dirichlet(alpha).
    alpha : float
        Concentration for ``"dirichlet"``: small alpha, strong skew.
    seed : int
        Seed for ``"iid"`` and ``"dirichlet"``.

    Returns
    -------
    list[np.ndarray]
        Disjoint sorted index arrays that together cover every e-mail.

    Raises
    ------
    ValueError
        For an unknown method, a bad alpha, or more clients than e-mails allow.
    """
    n = int(np.asarray(labels).size)
    if method not in PARTITIONERS:
        raise ValueError(
            f"Unknown partitioner {method!r}; expected one of {', '.join(PARTITIONERS)}"
        )
    if num_clients < 1:
        raise ValueError(f"Expected at least 1 client, got {num_clients}")
    if n < num_clients:
        raise ValueError(f"Cannot split {n} e-mails among {num_clients} clients")
    if method == "book":
        return [np.asarray(p, dtype=np.int64) for p in np.array_split(np.arange(n), num_clients)]
    rng = np.random.default_rng(seed)
    if method == "iid":
        return [np.sort(p) for p in np.array_split(rng.permutation(n), num_clients)]
    return _dirichlet(np.asarray(labels), num_clients, alpha, rng)


def _dirichlet(
    labels: np.ndarray, num_clients: int, alpha: float, rng: np.random.Generator
) -> list[np.ndarray]:
    if not alpha > 0:
        raise ValueError(f"Expected dirichlet alpha > 0, got {alpha}")
    min_size = max(1, min(MIN_PARTITION_SIZE, labels.size // (4 * num_clients)))
    for _ in range(MAX_DIRICHLET_TRIES):
        shards: list[list[np.ndarray]] = [[] for _ in range(num_clients)]
        for label in np.unique(labels):
            rows = rng.permutation(np.flatnonzero(labels == label))
            shares = rng.dirichlet(np.full(num_clients, alpha))
            cuts = (np.cumsum(shares)[:-1] * rows.size).astype(np.int64)
            for client, part in enumerate(np.split(rows, cuts)):
                shards[client].append(part)
        result = [np.sort(np.concatenate(parts)) for parts in shards]
        if min(p.size for p in result) >= min_size:
            return result
    raise ValueError(
        f"Dirichlet alpha={alpha} left a client with fewer than {min_size} e-mails "
        f"in {MAX_DIRICHLET_TRIES} draws; use a larger alpha or fewer clients"
    )


def label_skew(labels: np.ndarray, shards: list[np.ndarray]) -> float:
    """Mean absolute gap between a shard's spam share and the overall spam share."""
    labels = np.asarray(labels, dtype=np.float64)
    overall = labels.mean()
    return float(np.mean([abs(labels[s].mean() - overall) for s in shards if s.size]))
