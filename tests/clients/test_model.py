"""The numpy spam model: gradients, the unknown word, learning."""

import numpy as np
import pytest

from clients.model import SpamModel, loss_and_gradient
from data.email_set import EmailSet


def small_batch(rng, vocab=30, emails=12):
    lists = [sorted(rng.choice(np.arange(1, vocab), size=rng.integers(1, 8), replace=False)) for _ in range(emails)]
    return EmailSet.from_lists(lists, rng.integers(0, 2, emails).tolist())


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_gradient_matches_finite_differences(loss):
    rng = np.random.default_rng(1)
    emails = small_batch(rng)
    weights = rng.normal(0, 0.5, (30, 1))
    words, email_of_word, targets = next(emails.batches(len(emails)))
    _, grad = loss_and_gradient(weights, words, email_of_word, targets, loss)
    eps = 1e-6
    numeric = np.zeros_like(weights)
    for i in range(1, 30):
        plus, minus = weights.copy(), weights.copy()
        plus[i] += eps
        minus[i] -= eps
        numeric[i] = (
            loss_and_gradient(plus, words, email_of_word, targets, loss)[0]
            - loss_and_gradient(minus, words, email_of_word, targets, loss)[0]
        ) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)
    assert grad[0] == 0.0


def test_mse_is_the_books_summed_squared_error():
    weights = np.array([[0.0], [1.0], [-2.0]])
    loss, _ = loss_and_gradient(weights, np.array([1, 2, 1]), np.array([0, 0, 1]), np.array([1.0, 0.0]), "mse")
    pred = 1 / (1 + np.exp(-np.array([-1.0, 1.0])))
    assert loss == pytest.approx(((pred - [1.0, 0.0]) ** 2).sum())


def test_training_learns_a_separable_rule_and_keeps_the_unknown_word_at_zero():
    # Word 1 means spam, word 2 means ham, word 3 is everywhere.
    emails = EmailSet.from_lists([[1, 3], [2, 3]] * 50, [1, 0] * 50)
    model = SpamModel.zeros(4)
    model.weights[0] = 5.0
    first = model.fit(emails, lr=0.1, batch_size=10, epochs=1)
    last = model.fit(emails, lr=0.1, batch_size=10, epochs=5)
    assert last < first
    assert model.evaluate(emails)[1] == 1.0
    assert model.weights[1, 0] > 0 > model.weights[2, 0]
    assert model.weights[0, 0] == 0.0


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="Expected loss in"):
        loss_and_gradient(np.zeros((2, 1)), np.array([1]), np.array([0]), np.array([1.0]), "hinge")
