"""The chain walk with a fake send: who is asked what, in which order, and when the round is skipped."""

import pytest

from strategies.chain_walk import HopOutcome, walk_chain
from strategies.errors import CODE_BAD_ENVELOPE, NotEnoughContributorsError, RoundAbortedError
from strategies.wire import ADD, RESEAL


class FakeNodes:
    """Nodes that add themselves to a running list; ``silent`` ones never answer, ``codes`` answer an error."""

    def __init__(self, silent=(), codes=None):
        self.silent, self.codes = set(silent), codes or {}
        self.requests = []
        self.holding = {}  # node -> the contributors of the sum it forwarded
        self.envelopes = {b"": ()}  # envelope -> the contributors it holds

    def __call__(self, node, action, envelope, in_step, out_step, next_id):
        self.requests.append((node, action, in_step, out_step, next_id))
        if node in self.silent and action == ADD:
            return HopOutcome(ok=False)
        if node in self.codes:
            return HopOutcome(ok=False, code=self.codes[node])
        if action == ADD:
            self.holding[node] = (*self.envelopes[envelope], node)
        sealed = f"envelope-{len(self.envelopes)}".encode()
        self.envelopes[sealed] = self.holding[node]
        return HopOutcome(ok=True, sealed=sealed, contributors=self.holding[node])


def test_every_node_adds_once_in_order_and_the_last_returns_the_total():
    nodes = FakeNodes()
    result = walk_chain([3, 1, 2], nodes, min_clients=3)
    assert result.contributors == [3, 1, 2] and result.dropped == []
    assert [(n, a, nxt) for n, a, _, _, nxt in nodes.requests] == [(3, ADD, 1), (1, ADD, 2), (2, ADD, 0)]
    steps = [out for *_, out, _ in nodes.requests]
    assert steps == sorted(set(steps))  # steps only increase


def test_a_silent_node_is_routed_around_by_its_predecessor_resealing():
    nodes = FakeNodes(silent={1})
    result = walk_chain([3, 1, 2, 4], nodes, min_clients=3)
    assert result.contributors == [3, 2, 4] and result.dropped == [1]
    assert (3, RESEAL) in [(n, a) for n, a, *_ in nodes.requests]


def test_a_silent_first_node_lets_the_next_start_afresh():
    nodes = FakeNodes(silent={3})
    assert walk_chain([3, 1, 2, 4], nodes, min_clients=3).contributors == [1, 2, 4]
    assert all(a == ADD for _, a, *_ in nodes.requests)


def test_a_silent_last_node_skips_the_round_and_no_running_sum_becomes_a_total():
    nodes = FakeNodes(silent={4})
    with pytest.raises(RoundAbortedError, match="last hop"):
        walk_chain([3, 1, 2, 4], nodes, min_clients=3)
    assert [a for _, a, *_ in nodes.requests].count(RESEAL) == 0


def test_a_rejected_envelope_skips_the_round_without_a_restart():
    nodes = FakeNodes(codes={2: CODE_BAD_ENVELOPE})
    with pytest.raises(RoundAbortedError, match="never restarted"):
        walk_chain([3, 1, 2, 4], nodes, min_clients=2)
    assert [n for n, *_ in nodes.requests] == [3, 1, 2]


def test_too_few_left_is_never_decrypted():
    with pytest.raises(NotEnoughContributorsError):
        walk_chain([3, 1, 2], FakeNodes(silent={1}), min_clients=3)


def test_a_node_reporting_other_contributors_skips_the_round():
    def liar(node, action, envelope, in_step, out_step, next_id):
        return HopOutcome(ok=True, sealed=b"x", contributors=(99, node))

    with pytest.raises(RoundAbortedError, match="reports contributors"):
        walk_chain([3, 1, 2], liar, min_clients=2)
