"""Spam-filter figures: exact on small cases, and summable over test slices."""

import numpy as np
import pytest

from clients.spam_metrics import from_reports, slice_report, spam_metrics


def test_figures_of_a_small_case_by_hand():
    scores = np.array([0.9, 0.8, 0.3, 0.6, 0.1, 0.2])
    labels = np.array([1, 1, 1, 0, 0, 0])
    m = spam_metrics(scores, labels)
    # Flagged: 0.9, 0.8 (spam) and 0.6 (ham). Missed: 0.3 (spam).
    assert (m.precision, m.recall, m.fpr) == (
        pytest.approx(2 / 3),
        pytest.approx(2 / 3),
        pytest.approx(1 / 3),
    )
    assert m.accuracy == pytest.approx(4 / 6) and m.majority_accuracy == 0.5
    # Pairs (spam, ham) ranked right: 8 of 9 (0.3 < 0.6 is the one wrong).
    assert m.auc == pytest.approx(8 / 9)
    # No ham may be flagged at 1% FPR here: only the spam above every ham counts.
    assert m.recall_at_fpr_1pct == pytest.approx(2 / 3)


def test_auc_equals_the_pairwise_count_on_random_scores():
    rng = np.random.default_rng(0)
    labels = rng.random(3000) < 0.15
    scores = 1 / (1 + np.exp(-(rng.normal(size=3000) * 3 + 4 * labels - 2)))
    pos, neg = scores[labels], scores[~labels]
    exact = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert spam_metrics(scores, labels).auc == pytest.approx(exact, abs=2e-3)


def test_summed_slice_reports_give_the_figures_of_the_whole_set():
    rng = np.random.default_rng(1)
    labels = rng.random(500) < 0.3
    scores = rng.random(500)
    slices = np.array_split(np.arange(500), 3)
    assert from_reports([slice_report(scores[s], labels[s]) for s in slices]) == spam_metrics(
        scores, labels
    )
