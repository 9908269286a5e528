"""What spam-filter users ask of a model: false positives, recall, AUC, not accuracy alone.

Everything is computed from spam probabilities and labels (1 = spam). The
ranking metrics (ROC AUC, spam recall at a fixed false-positive rate) are
computed from per-class score histograms, so that a federation can sum the
histograms of many test slices and get the same figures as one test set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

THRESHOLD = 0.5
# Scores are binned on the logit scale, where the model's decisions spread out:
# 0.05 wide from -25 to 25, plus one bin each for everything below and above.
LOGIT_EDGES = np.linspace(-25.0, 25.0, 1001)
BINS = LOGIT_EDGES.size + 1
TARGET_FPR = 0.01


def _logit(scores: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(scores, dtype=np.float64), 1e-300, 1.0)
    return np.log(p) - np.log1p(-np.minimum(p, 1.0 - 1e-16))


def score_histograms(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts of spam and of ham per score bin (bins in ascending score)."""
    bins = np.searchsorted(LOGIT_EDGES, _logit(scores), side="right")
    spam = np.asarray(labels) > 0.5
    return (
        np.bincount(bins[spam], minlength=BINS).astype(np.int64),
        np.bincount(bins[~spam], minlength=BINS).astype(np.int64),
    )


@dataclass(frozen=True)
class SpamMetrics:
    """A model's figures on one test set at threshold 0.5, plus its ranking quality.

    ``fpr`` is the fraction of ham flagged as spam; ``recall`` the fraction of
    spam caught; ``recall_at_fpr_1pct`` the spam caught by the threshold that
    flags at most 1% of ham; ``majority_accuracy`` what always answering the
    larger class scores, the baseline every accuracy is printed beside.
    """

    accuracy: float
    precision: float
    recall: float
    f1: float
    fpr: float
    auc: float
    recall_at_fpr_1pct: float
    majority_accuracy: float
    spam: int
    ham: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> SpamMetrics:
        """The figures among ``values`` (e.g. a round of a results file, which holds more)."""
        return cls(**{name: values[name] for name in cls.__dataclass_fields__})

    def line(self) -> str:
        """One log line: every figure, accuracy beside the majority baseline."""
        return (
            f"accuracy {100 * self.accuracy:.2f}% "
            f"(majority baseline {100 * self.majority_accuracy:.2f}%), "
            f"precision {100 * self.precision:.2f}%, recall {100 * self.recall:.2f}%, "
            f"F1 {100 * self.f1:.2f}%, FPR {100 * self.fpr:.2f}%, AUC {self.auc:.4f}, "
            f"recall at 1% FPR {100 * self.recall_at_fpr_1pct:.2f}%"
        )


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else 0.0


def from_counts(
    tp: int, fp: int, tn: int, fn: int, spam_hist: np.ndarray, ham_hist: np.ndarray
) -> SpamMetrics:
    """The metrics from confusion counts at 0.5 and score histograms (summable over test slices)."""
    spam, ham = tp + fn, tn + fp
    if spam + ham == 0:
        raise ValueError("Cannot score an empty test set")
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, spam)
    # ROC from the highest bin down: each bin is one threshold; ties count half (trapezoid).
    tpr = np.concatenate([[0.0], np.cumsum(spam_hist[::-1]) / max(spam, 1)])
    fpr = np.concatenate([[0.0], np.cumsum(ham_hist[::-1]) / max(ham, 1)])
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0)) if spam and ham else 0.0
    within = fpr <= TARGET_FPR + 1e-12
    return SpamMetrics(
        accuracy=_ratio(tp + tn, spam + ham),
        precision=precision,
        recall=recall,
        f1=_ratio(2 * precision * recall, precision + recall),
        fpr=_ratio(fp, ham),
        auc=auc,
        recall_at_fpr_1pct=float(tpr[within].max()),
        majority_accuracy=_ratio(max(spam, ham), spam + ham),
        spam=int(spam),
        ham=int(ham),
    )


def confusion(
    scores: np.ndarray, labels: np.ndarray, threshold: float = THRESHOLD
) -> tuple[int, int, int, int]:
    """``(tp, fp, tn, fn)`` with spam flagged when the score exceeds ``threshold``."""
    flagged = np.asarray(scores) > threshold
    spam = np.asarray(labels) > 0.5
    return (
        int((flagged & spam).sum()),
        int((flagged & ~spam).sum()),
        int((~flagged & ~spam).sum()),
        int((~flagged & spam).sum()),
    )


def spam_metrics(scores: np.ndarray, labels: np.ndarray) -> SpamMetrics:
    """Every figure of ``SpamMetrics`` for spam probabilities ``scores`` against ``labels``."""
    return from_counts(*confusion(scores, labels), *score_histograms(scores, labels))


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates at every distinct score (for the plot)."""
    spam_hist, ham_hist = score_histograms(scores, labels)
    tpr = np.concatenate([[0.0], np.cumsum(spam_hist[::-1]) / max(spam_hist.sum(), 1)])
    fpr = np.concatenate([[0.0], np.cumsum(ham_hist[::-1]) / max(ham_hist.sum(), 1)])
    return fpr, tpr


def slice_report(scores: np.ndarray, labels: np.ndarray) -> dict[str, int | list[int]]:
    """What one test slice reports for federated evaluation: counts that sum across slices."""
    tp, fp, tn, fn = confusion(scores, labels)
    spam_hist, ham_hist = score_histograms(scores, labels)
    return {
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "spam-hist": spam_hist.tolist(),
        "ham-hist": ham_hist.tolist(),
    }


def from_reports(reports: list[dict]) -> SpamMetrics:
    """The figures of the union of the slices behind ``reports`` (``slice_report``'s)."""
    tp, fp, tn, fn = (sum(int(r[k]) for r in reports) for k in ("tp", "fp", "tn", "fn"))
    spam_hist, ham_hist = (
        np.sum([np.asarray(r[k], dtype=np.int64) for r in reports], axis=0)
        for k in ("spam-hist", "ham-hist")
    )
    return from_counts(tp, fp, tn, fn, spam_hist, ham_hist)
