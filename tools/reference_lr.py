"""The reference for README "Model quality": a logistic regression of the same model class.

Needs scikit-learn, which the project does not depend on:

    pip install -e ".[reference]" && python tools/reference_lr.py [--seeds 5]

For each split seed, trains the default recipe (``fl-spam centralized``) and
scikit-learn's ``LogisticRegression(class_weight="balanced")`` on the same
unique-token features of the same stratified split of the SMS corpus, and
prints accuracy and ROC AUC of both, then the medians.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

# scipy ships no type information and scipy-stubs is no test dependency. The fix belongs
# in pyproject.toml: "scipy.*" in the ignore_missing_imports override, next to sklearn
# (this tool is the only importer). Drop this ignore then (warn_unused_ignores flags it).
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression

from clients.spam_metrics import spam_metrics
from data.email_set import EmailSet
from data.loaders import load_corpus
from data.prepare import prepare
from fl_app.centralized import train_centralized
from fl_app.config import RunConfig


def features(emails: EmailSet, vocabulary_size: int) -> csr_matrix:
    ones = np.ones(emails.indices.size)
    return csr_matrix((ones, emails.indices, emails.offsets), shape=(len(emails), vocabulary_size))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    cfg = RunConfig()
    corpus = load_corpus(cfg.corpus)
    rows = []
    for seed in range(args.seeds):
        data = prepare(corpus, cfg.split, seed)
        model, _ = train_centralized(
            data, cfg.recipe, cfg.num_server_rounds * cfg.local_epochs, seed
        )
        ours = model.evaluate(data.test)[1]
        size = len(data.vocabulary)
        lr = LogisticRegression(max_iter=5000, class_weight="balanced")
        lr.fit(features(data.train, size), data.train.labels)
        ref = spam_metrics(lr.predict_proba(features(data.test, size))[:, 1], data.test.labels)
        rows.append((ours, ref))
        print(
            f"seed {seed}: fl-spam {100 * ours.accuracy:.2f}% AUC {ours.auc:.4f} | "
            f"reference {100 * ref.accuracy:.2f}% AUC {ref.auc:.4f}"
        )
    for name, i in (("fl-spam", 0), ("reference", 1)):
        print(
            f"median {name}: {100 * statistics.median(r[i].accuracy for r in rows):.2f}% "
            f"AUC {statistics.median(r[i].auc for r in rows):.4f}"
        )


if __name__ == "__main__":
    main()
