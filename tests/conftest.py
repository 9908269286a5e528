"""Shared fixtures."""

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """240 labelled e-mails over 40 words (spam favours w0-w19, ham w20-w39), as label-TAB-text.

    Small enough that a secure round with a 2048-bit key is one ciphertext per
    client, so tests of the protocol and of real deployments run in seconds.
    """
    rng = np.random.default_rng(0)
    lines = []
    for i in range(240):
        spam = i % 2 == 0
        favoured = range(0, 20) if spam else range(20, 40)
        words = [f"w{w}" for w in rng.choice(list(favoured), 6)] + [f"w{w}" for w in rng.choice(40, 3)]
        lines.append(f"{'spam' if spam else 'ham'}\t{' '.join(words)}")
    path = tmp_path_factory.mktemp("corpus") / "mail.tsv"
    path.write_text("\n".join(lines) + "\n")
    return path
