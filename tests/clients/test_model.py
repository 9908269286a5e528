"""The numpy spam model: gradients, the bias row, balanced epochs, learning."""

import numpy as np
import pytest

from clients.model import SpamModel, balanced_order, loss_and_gradient
from data.email_set import EmailSet


def small_batch(rng, vocab=30, emails=12):
    lists = [
        sorted(rng.choice(np.arange(1, vocab), size=rng.integers(1, 8), replace=False))
        for _ in range(emails)
    ]
    return EmailSet.from_lists(lists, rng.integers(0, 2, emails).tolist())


@pytest.mark.parametrize("loss", ["mse", "bce"])
@pytest.mark.parametrize("bias", [False, True])
def test_gradient_matches_finite_differences(loss, bias):
    rng = np.random.default_rng(1)
    emails = small_batch(rng)
    weights = rng.normal(0, 0.5, (30, 1))
    if not bias:
        weights[0] = 0.0  # the book's padding row
    words, email_of_word, targets = next(emails.batches(len(emails)))
    _, grad = loss_and_gradient(weights, words, email_of_word, targets, loss, bias)
    eps = 1e-6
    numeric = np.zeros_like(weights)
    for i in range(0 if bias else 1, 30):
        plus, minus = weights.copy(), weights.copy()
        plus[i] += eps
        minus[i] -= eps
        numeric[i] = (
            loss_and_gradient(plus, words, email_of_word, targets, loss, bias)[0]
            - loss_and_gradient(minus, words, email_of_word, targets, loss, bias)[0]
        ) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)
    assert (grad[0] != 0.0) == bias


def test_mse_is_the_books_summed_squared_error():
    weights = np.array([[0.0], [1.0], [-2.0]])
    loss, _ = loss_and_gradient(
        weights, np.array([1, 2, 1]), np.array([0, 0, 1]), np.array([1.0, 0.0]), "mse"
    )
    pred = 1 / (1 + np.exp(-np.array([-1.0, 1.0])))
    assert loss == pytest.approx(((pred - [1.0, 0.0]) ** 2).sum())


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_training_learns_a_separable_rule_and_keeps_the_books_padding_row_at_zero(loss):
    # Word 1 means spam, word 2 means ham, word 3 is everywhere.
    emails = EmailSet.from_lists([[1, 3], [2, 3]] * 50, [1, 0] * 50)
    model = SpamModel.zeros(4, loss, bias=False)
    model.weights[0] = 5.0
    first = model.fit(emails, lr=0.1, batch_size=10, epochs=1)
    last = model.fit(emails, lr=0.1, batch_size=10, epochs=5)
    assert last < first
    assert model.evaluate(emails)[1].accuracy == 1.0
    assert model.weights[1, 0] > 0 > model.weights[2, 0]
    assert model.weights[0, 0] == 0.0


def test_the_bias_learns_the_answer_of_an_e_mail_without_known_words():
    # Most e-mails with no words are ham: only a bias can say so.
    emails = EmailSet.from_lists([[], [], [], [1]] * 25, [0, 0, 0, 1] * 25)
    with_bias, without = SpamModel.zeros(2, "bce", bias=True), SpamModel.zeros(2, "bce", bias=False)
    for model in (with_bias, without):
        model.fit(emails, lr=0.1, batch_size=10, epochs=20, rng=np.random.default_rng(0))
    empty = EmailSet.from_lists([[]], [0])
    assert with_bias.predict(empty)[0] < 0.5 == without.predict(empty)[0]


def test_an_epoch_alternates_the_classes_and_repeats_the_smaller_one():
    labels = np.array([0, 0, 1, 0, 0, 0, 1, 0], dtype=float)  # 2 spam, 6 ham
    order = balanced_order(labels)
    assert list(labels[order]) == [1, 0] * 6  # no run of one class at the end
    assert list(order[0::2]) == [2, 6, 2, 6, 2, 6] and sorted(order[1::2]) == [0, 1, 3, 4, 5, 7]
    shuffled = balanced_order(labels, np.random.default_rng(0))
    assert list(labels[shuffled]) == [1, 0] * 6 and sorted(set(shuffled)) == list(range(8))
    assert list(balanced_order(np.zeros(3))) == [0, 1, 2]  # one class: that class, once each


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="Expected loss in"):
        loss_and_gradient(np.zeros((2, 1)), np.array([1]), np.array([0]), np.array([1.0]), "hinge")
