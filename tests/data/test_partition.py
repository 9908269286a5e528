"""Partitioners: disjoint, complete, and label skew that grows as alpha falls."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data.partition import PARTITIONERS, label_skew, partition


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.integers(0, 1), min_size=40, max_size=400),
    num_clients=st.integers(1, 8),
    method=st.sampled_from(PARTITIONERS),
    alpha=st.floats(0.5, 100.0),
    seed=st.integers(0, 2**16),
)
def test_shards_are_disjoint_and_cover_every_email(labels, num_clients, method, alpha, seed):
    labels = np.array(labels)
    shards = partition(labels, num_clients, method, alpha, seed)
    assert len(shards) == num_clients
    joined = np.concatenate(shards)
    assert sorted(joined.tolist()) == list(range(labels.size))


def test_book_partition_is_contiguous_like_bob_alice_and_sue():
    shards = partition(np.zeros(10), 3, "book")
    assert [s.tolist() for s in shards] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]


def test_label_skew_grows_as_alpha_falls():
    labels = np.tile([1, 0], 2000)
    skew = {
        alpha: np.mean(
            [label_skew(labels, partition(labels, 5, "dirichlet", alpha, s)) for s in range(10)]
        )
        for alpha in (0.1, 1.0, 100.0)
    }
    iid = label_skew(labels, partition(labels, 5, "iid", seed=0))
    assert skew[0.1] > skew[1.0] > skew[100.0]
    assert skew[100.0] < 0.05 and iid < 0.05 and skew[0.1] > 0.2


def test_partition_rejects_bad_arguments():
    with pytest.raises(ValueError, match="Unknown partitioner 'random'"):
        partition(np.zeros(10), 2, "random")
    with pytest.raises(ValueError, match="Cannot split 3 e-mails among 5 clients"):
        partition(np.zeros(3), 5, "iid")
    with pytest.raises(ValueError, match="alpha > 0"):
        partition(np.zeros(10), 2, "dirichlet", alpha=0.0)
