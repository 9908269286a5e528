"""Results of a run: ``results/<run-id>.json`` and a PNG beside it (figures per round, ROC)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from clients.spam_metrics import TARGET_FPR, roc_curve
from storage.atomic_write import write_atomically

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def write_json(path: Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` with ``write_atomically``, so a crash leaves no half file."""
    write_atomically(path, (json.dumps(payload, indent=2) + "\n").encode("utf-8"))
    return path


def plot_run(
    path: Path, rounds: list[dict[str, Any]], scores: np.ndarray, labels: np.ndarray, title: str
) -> Path:
    """Left: accuracy, precision, recall and AUC per round beside the majority baseline.
    Right: the final model's ROC curve, false-positive rate on a log axis, 1% marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    numbers = [int(r["round"]) for r in rounds]
    fig, (per_round, roc) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=100)
    for key, label in (
        ("accuracy", "accuracy"),
        ("precision", "precision"),
        ("recall", "spam recall"),
        ("auc", "ROC AUC"),
    ):
        per_round.plot(numbers, [100 * r[key] for r in rounds], marker="o", label=label)
    per_round.plot(
        numbers, [100 * r["majority_accuracy"] for r in rounds], "k--", label="majority baseline"
    )
    per_round.set_xlabel("round")
    per_round.set_ylabel("%")
    per_round.set_xticks(numbers)
    per_round.legend(fontsize=8)
    per_round.grid(alpha=0.3)
    fpr, tpr = roc_curve(scores, labels)
    roc.plot(np.maximum(fpr, 1e-4), 100 * tpr, drawstyle="steps-post")
    roc.axvline(TARGET_FPR, color="grey", linestyle=":", label="1% of ham flagged")
    roc.set_xscale("log")
    roc.set_xlim(1e-4, 1.0)
    roc.set_xlabel("false-positive rate (ham flagged as spam)")
    roc.set_ylabel("spam recall (%)")
    roc.set_title(f"ROC of the final model, AUC {rounds[-1]['auc']:.4f}", fontsize=9)
    roc.legend(fontsize=8)
    roc.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def save_figure(fig: Figure, path: Path) -> Path:
    """Lay out ``fig``, write it to ``path`` (making its folder) and close it; ``path``."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def save_run(
    results_dir: Path,
    run_id: int | str,
    payload: dict[str, Any],
    title: str,
    scores: np.ndarray,
    labels: np.ndarray,
) -> tuple[Path, Path]:
    """Write ``<run-id>.json`` and ``<run-id>.png`` (``plot_run``) into ``results_dir``."""
    results_dir = Path(results_dir).expanduser().resolve()
    png = plot_run(results_dir / f"{run_id}.png", payload["rounds"], scores, labels, title)
    return write_json(results_dir / f"{run_id}.json", payload), png
