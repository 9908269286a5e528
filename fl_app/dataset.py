"""The data an app process works on: loaded once per process, sliced per client."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from clients.spam_client import SpamClient
from data.loaders import load_corpus
from data.partition import partition
from data.prepare import PreparedData, prepare

from .config import RunConfig


@lru_cache(maxsize=2)
def load_data(corpus: str, data_path: str, seed: int) -> PreparedData:
    """Load and prepare a corpus; cached because Flower reuses app processes."""
    return prepare(load_corpus(corpus, data_path or None, seed))


def make_client(cfg: RunConfig, partition_id: int) -> SpamClient:
    """The ``SpamClient`` of one partition: its training shard and test slice.

    Raises
    ------
    ValueError
        If ``partition_id`` is not in ``0 .. num-clients - 1``.
    """
    if not 0 <= partition_id < cfg.num_clients:
        raise ValueError(
            f"partition-id {partition_id} is out of range: num-clients is "
            f"{cfg.num_clients}, so expected 0..{cfg.num_clients - 1}"
        )
    data = load_data(cfg.corpus, cfg.data_path, cfg.seed)
    shards = partition(
        data.train.labels, cfg.num_clients, cfg.partitioner, cfg.dirichlet_alpha, cfg.seed
    )
    # Each client evaluates on its own contiguous slice of the held-out set.
    test_slice = np.array_split(np.arange(len(data.test)), cfg.num_clients)[partition_id]
    return SpamClient(
        train=data.train.subset(shards[partition_id]),
        test=data.test.subset(test_slice),
        vocab_size=len(data.vocabulary),
        loss=cfg.loss,
        lr=cfg.lr,
        batch_size=cfg.batch_size,
        local_epochs=cfg.local_epochs,
    )
