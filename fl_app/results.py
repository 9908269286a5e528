"""Results of a run: ``results/<run-id>.json`` and an accuracy-per-round PNG beside it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_json(path: Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` atomically (write, fsync, rename) so a crash leaves no half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def plot_accuracy(path: Path, accuracy: dict[int, float], title: str) -> Path:
    """Accuracy (percent) per round as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = sorted(accuracy)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(rounds, [100 * accuracy[r] for r in rounds], marker="o")
    ax.set_xlabel("round")
    ax.set_ylabel("test accuracy (%)")
    ax.set_xticks(rounds)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def save_run(
    results_dir: Path, run_id: int | str, payload: dict[str, Any], title: str
) -> tuple[Path, Path]:
    """Write ``<run-id>.json`` and ``<run-id>.png`` into ``results_dir``."""
    results_dir = Path(results_dir).expanduser().resolve()
    accuracy = {int(r["round"]): float(r["accuracy"]) for r in payload["rounds"]}
    png = plot_accuracy(results_dir / f"{run_id}.png", accuracy, title)
    return write_json(results_dir / f"{run_id}.json", payload), png
