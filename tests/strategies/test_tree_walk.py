"""The tree walk with a fake send: who is asked what, level by level, when the round is skipped."""

import pytest

from strategies.errors import CODE_BAD_ENVELOPE, NotEnoughContributorsError, RoundAbortedError
from strategies.tree_walk import HopOutcome, depth, levels, walk_tree
from strategies.wire import ADD, RESEAL


class FakeNodes:
    """Nodes that report their inputs' contributors plus themselves; ``silent`` ones never
    answer an ADD, ``codes`` answer an error, ``no_reseal`` ones refuse to re-seal."""

    def __init__(self, silent=(), codes=None, no_reseal=()):
        self.silent, self.codes, self.no_reseal = set(silent), codes or {}, set(no_reseal)
        self.levels = []  # the requests of each call, in order
        self.holding = {}

    def __call__(self, requests):
        self.levels.append(
            [
                (r.node, r.action, r.next_id, r.out_step, [s.holder for s in r.inputs])
                for r in requests
            ]
        )
        outcomes = {}
        for r in requests:
            if r.node in self.codes:
                outcomes[r.node] = HopOutcome(ok=False, code=self.codes[r.node])
            elif (r.action == ADD and r.node in self.silent) or (
                r.action == RESEAL and r.node in self.no_reseal
            ):
                continue  # no reply in time
            else:
                if r.action == ADD:
                    self.holding[r.node] = (*(c for s in r.inputs for c in s.contributors), r.node)
                outcomes[r.node] = HopOutcome(
                    ok=True, sealed=f"sum-{r.node}".encode(), contributors=self.holding[r.node]
                )
        return outcomes


def test_levels_are_heap_shaped_and_depth_is_logarithmic():
    assert levels([9, 8, 7, 6, 5, 4], 2) == [[9], [8, 7], [6, 5, 4]]
    assert levels([1, 2, 3], 1) == [[1], [2], [3]]
    assert [depth(n, 4) for n in (3, 10, 100)] == [3, 4, 6]
    assert depth(100, 1) == 101 and depth(100, 10) == 4
    with pytest.raises(ValueError):
        levels([1], 0)


def test_each_level_is_one_parallel_call_deepest_first_and_the_root_is_left_to_the_strategy():
    nodes = FakeNodes()
    result = walk_tree([1, 2, 3, 4, 5, 6], 2, nodes, min_clients=3)
    assert nodes.levels == [
        [(4, ADD, 2, 1, []), (5, ADD, 2, 2, []), (6, ADD, 3, 3, [])],
        [(2, ADD, 1, 4, [4, 5]), (3, ADD, 1, 5, [6])],
    ]
    assert result.root == 1 and result.contributors == [4, 5, 2, 6, 3, 1] and result.waves == 2
    assert [s.step for s in result.inputs] == [4, 5] and result.next_step == 6


def test_an_inner_node_that_drops_has_its_children_reseal_for_its_parent():
    nodes = FakeNodes(silent={2})
    result = walk_tree([1, 2, 3, 4, 5, 6], 2, nodes, min_clients=3)
    assert nodes.levels[2] == [
        (4, RESEAL, 1, 6, []),
        (5, RESEAL, 1, 7, []),
    ]  # one wave, in parallel
    assert (
        result.dropped == [2]
        and sorted(result.contributors) == [1, 3, 4, 5, 6]
        and result.waves == 3
    )
    assert [s.holder for s in result.inputs] == [3, 4, 5]  # the root now has three inputs


def test_a_dropped_leaf_leaves_nothing_to_reseal():
    nodes = FakeNodes(silent={4})
    result = walk_tree([1, 2, 3, 4, 5, 6], 2, nodes, min_clients=3)
    assert result.dropped == [4] and result.waves == 2
    assert all(action == ADD for level in nodes.levels for _, action, *_ in level)


def test_a_rejected_envelope_skips_the_round_without_a_restart():
    nodes = FakeNodes(codes={2: CODE_BAD_ENVELOPE})
    with pytest.raises(RoundAbortedError, match="never restarted"):
        walk_tree([1, 2, 3, 4, 5], 2, nodes, min_clients=2)
    assert len(nodes.levels) == 2


def test_a_holder_that_cannot_reseal_skips_the_round():
    with pytest.raises(RoundAbortedError, match="re-seal"):
        walk_tree([1, 2, 3, 4, 5], 2, FakeNodes(silent={2}, no_reseal={4}), min_clients=2)


def test_too_few_left_is_never_decrypted():
    with pytest.raises(NotEnoughContributorsError):
        walk_tree([1, 2, 3], 1, FakeNodes(silent={2}), min_clients=3)


def test_a_node_reporting_other_contributors_skips_the_round():
    def liar(requests):
        return {
            r.node: HopOutcome(ok=True, sealed=b"x", contributors=(99, r.node)) for r in requests
        }

    with pytest.raises(RoundAbortedError, match="reports contributors"):
        walk_tree([3, 1, 2], 2, liar, min_clients=2)
