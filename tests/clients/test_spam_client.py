"""SpamClient: the NumPyClient contract on one shard."""

import dataclasses

import numpy as np
import pytest

from clients.model import BOOK_RECIPE
from clients.spam_client import SpamClient
from data.email_set import EmailSet


@pytest.fixture
def client():
    train = EmailSet.from_lists([[1, 3], [2, 3]] * 20, [1, 0] * 20)
    test = EmailSet.from_lists([[1], [2], [1, 2, 3]], [1, 0, 1])
    return SpamClient(
        train, test, vocab_size=4, recipe=dataclasses.replace(BOOK_RECIPE, lr=0.1, batch_size=8)
    )


def test_fit_trains_from_the_given_weights_and_reports_examples(client):
    start = [np.zeros((4, 1))]
    weights, num_examples, metrics = client.fit(start, {})
    assert num_examples == 40 and metrics["train_loss"] > 0
    assert weights[0].shape == (4, 1) and weights[0][1, 0] > 0 > weights[0][2, 0]
    assert not np.shares_memory(weights[0], start[0]) and start[0].sum() == 0
    more, _, _ = client.fit(start, {"local-epochs": 5})
    assert more[0][1, 0] > weights[0][1, 0]  # the round config overrides the default


def test_evaluate_reports_counts_that_sum_across_test_slices(client):
    weights = [np.array([[0.0], [4.0], [-4.0], [0.0]])]
    loss, num_examples, report = client.evaluate(weights, {})
    # Spam [1] and ham [2] are right; spam [1, 2, 3] scores 0.5, not above it: missed.
    assert num_examples == 3 and (report["tp"], report["fp"], report["tn"], report["fn"]) == (
        1,
        0,
        1,
        1,
    )
    assert sum(report["spam-hist"]) == 2 and sum(report["ham-hist"]) == 1
    assert 0 < loss < 0.25


def test_weights_of_another_vocabulary_are_refused(client):
    with pytest.raises(ValueError, match="different vocabularies"):
        client.fit([np.zeros((5, 1))], {})
