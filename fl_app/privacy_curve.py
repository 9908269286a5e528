"""``fl-spam privacy-curve``: test accuracy against epsilon for a few noise levels.

Each point is a simulated federated run of client-level DP-FedAvg, in
process: every client trains and clips its update to L2 norm ``clip``; the
clipped updates are summed, and the sum gets the noise that the clients'
shares add up to: one discrete Gaussian on the codec's grid with the summed
variance ``(z C)^2 * contributors / min-clients``, from the same OpenDP
sampler the clients use. The sum of the shares is that distribution to
within a negligible distance (Kairouz, Liu and Steinke, 2021), and under
``aggregation = "paillier"`` the decrypted sum equals this one to within the
codec's 9.5e-7; drawing 100 clients' shares (0.7 s each per round) would
take a quarter of an hour per curve instead of a minute. Epsilon comes from
``dp-accounting``, for replace-one neighbours.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from clients.model import SpamModel
from strategies.codec import FRAC_BITS
from strategies.privacy import DEFAULT_DELTA, DpSettings, clip_l2, grid_noise

from .config import RunConfig
from .dataset import load_data, make_client
from .results import save_figure

# Replace-one neighbours: twice the add/remove multiplier for the same epsilon.
NOISE_MULTIPLIERS = (1.2, 1.6, 2.4, 4.0, 8.0)
# DP needs many clients: with 3, noise that hides one client also hides the model.
CLIENTS = 100
ROUNDS = 3
CLIP = 0.5
# Shares sized for 90% of the clients, so the sum's noise is only ~5% above target.
MIN_CLIENT_FRACTION = 0.9


def _accuracy(cfg: RunConfig, dp: DpSettings | None) -> float:
    """Test accuracy after ``num-server-rounds`` of equal-weight DP-FedAvg.

    Plain (example-weighted) FedAvg without ``dp``.
    """
    data = load_data(cfg)
    clients = [make_client(cfg, i) for i in range(cfg.num_clients)]
    weights = SpamModel.zeros(len(data.vocabulary)).weights
    train = cfg.train_config()
    for _ in range(cfg.num_server_rounds):
        deltas, sizes = [], []
        for client in clients:
            new, size, _ = client.fit([weights], train)
            deltas.append(new[0] - weights)
            sizes.append(size)
        if dp is None:
            weights = weights + sum(n * d for n, d in zip(sizes, deltas, strict=True)) / sum(sizes)
            continue
        total = sum(clip_l2(d, dp.clip) for d in deltas)
        sum_std = dp.share_std * np.sqrt(len(clients))
        noise = grid_noise(weights.size, sum_std).reshape(weights.shape) / 2.0**FRAC_BITS
        weights = weights + (total + noise) / len(clients)
    return SpamModel(weights, cfg.loss, cfg.bias).evaluate(data.test)[1].accuracy


def privacy_curve(
    clients: int = CLIENTS,
    rounds: int = ROUNDS,
    clip: float = CLIP,
    multipliers: tuple[float, ...] = NOISE_MULTIPLIERS,
    delta: float = DEFAULT_DELTA,
    progress: Callable[[str], None] = lambda s: None,
) -> dict:
    """Accuracy of the non-private run and of one DP run per noise multiplier."""
    min_clients = max(2, math.floor(MIN_CLIENT_FRACTION * clients))
    # The figures in the README were measured on the synthetic corpus with the book's recipe.
    RunConfig(dp_clip=clip, dp_noise_multiplier=max(multipliers), dp_delta=delta)  # checks them
    cfg = RunConfig.from_mapping(
        {
            "num-clients": clients,
            "min-clients": min_clients,
            "partitioner": "iid",
            "num-server-rounds": rounds,
            "corpus": "synthetic",
            "preset": "book",
        }
    )
    progress("non-private run")
    points = []
    reference = _accuracy(cfg, None)
    for z in multipliers:
        dp = DpSettings(clip, z, min_clients, delta)
        progress(f"noise multiplier {z}")
        accuracy = _accuracy(cfg, dp)
        points.append({"noise_multiplier": z, "epsilon": dp.epsilon(rounds), "accuracy": accuracy})
    return {
        "corpus": load_data(cfg).corpus,
        "clients": clients,
        "min_clients": min_clients,
        "rounds": rounds,
        "clip": clip,
        "delta": delta,
        "neighbouring": "replace-one",
        "non_private_accuracy": reference,
        "points": points,
    }


def plot_curve(result: dict, path: Path) -> Path:
    """Accuracy (percent) against epsilon, with the non-private accuracy as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = sorted(result["points"], key=lambda p: p["epsilon"])
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(
        [p["epsilon"] for p in points],
        [100 * p["accuracy"] for p in points],
        marker="o",
        label="DP-FedAvg",
    )
    ax.axhline(100 * result["non_private_accuracy"], linestyle="--", color="gray", label="no DP")
    ax.set_xscale("log")
    ax.set_xlabel(f"epsilon (delta = {result['delta']:g}, {result['rounds']} rounds)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(
        f"{result['clients']} clients, clip {result['clip']} - {result['corpus']}", fontsize=9
    )
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, Path(path).resolve())
