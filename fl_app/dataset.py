"""The data an app process works on: loaded once per process, sliced per client."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from clients.spam_client import SpamClient
from data.loaders import load_corpus
from data.partition import partition
from data.prepare import PreparedData, prepare

from .config import RunConfig


def load_data(cfg: RunConfig) -> PreparedData:
    """Load, split and encode the run's corpus; cached because Flower reuses app processes."""
    return _load(cfg.corpus, cfg.data_path, cfg.seed, cfg.split, cfg.spam_folder_names())


@lru_cache(maxsize=2)
def _load(
    kind: str, path: str, seed: int, split: str, spam_folders: tuple[str, ...]
) -> PreparedData:
    return prepare(load_corpus(kind, path or None, seed, spam_folders=spam_folders), split, seed)


def make_client(cfg: RunConfig, partition_id: int, num_partitions: int | None = None) -> SpamClient:
    """The ``SpamClient`` of one partition: its training shard and test slice.

    The corpus is split into ``num-clients`` partitions, or, when that is 0,
    into the ``num_partitions`` the node was given (Flower's simulation sets
    ``num-partitions`` on every node).

    Raises
    ------
    ValueError
        If the number of partitions is unknown or ``partition_id`` is not in
        ``0 .. partitions - 1``.
    """
    partitions = cfg.num_clients or num_partitions or 0
    if partitions < 1:
        raise ValueError(
            "num-clients is 0 (one client per SuperNode) and this node has no num-partitions in "
            "its node config; set num-clients, or start it with --node-config "
            '"partition-id=<i> num-partitions=<n>"'
        )
    if not 0 <= partition_id < partitions:
        raise ValueError(
            f"partition-id {partition_id} is out of range: there are {partitions} partitions, "
            f"so expected 0..{partitions - 1}"
        )
    data = load_data(cfg)
    shards = partition(
        data.train.labels, partitions, cfg.partitioner, cfg.dirichlet_alpha, cfg.seed
    )
    # Each client evaluates on its own contiguous slice of the held-out set.
    test_slice = np.array_split(np.arange(len(data.test)), partitions)[partition_id]
    return SpamClient(
        train=data.train.subset(shards[partition_id]),
        test=data.test.subset(test_slice),
        vocab_size=len(data.vocabulary),
        recipe=cfg.recipe,
        seed=cfg.seed * 1_000_003 + partition_id,
    )
