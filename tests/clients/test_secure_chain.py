"""The client side of the chain without Flower: contribute, forward, add."""

import numpy as np
import pytest

from clients.secure_chain import add_own, contribute, forward
from strategies import envelope
from strategies.codec import CodecParams, decode
from strategies.errors import EnvelopeError
from strategies.keys import generate_keypair

PUB, PRIV = generate_keypair()
PARAMS = CodecParams(2048, 100)


def test_two_clients_chain_their_contributions_into_the_weighted_sum():
    alice = contribute(1, np.full(100, 0.25), 30, PUB.n, PARAMS)
    bob = contribute(1, np.full(100, -0.5), 10, PUB.n, PARAMS)
    bob_key = envelope.new_private_key()
    sealed = forward(alice.ciphertexts, alice, envelope.public_key_of(bob_key), run_id=9, out_step=1)
    total = add_own(bob, sealed, bob_key, run_id=9, in_step=1)
    aggregate = decode([PRIV.raw_decrypt(c) for c in total], 2, PARAMS)
    assert aggregate.examples == 40
    np.testing.assert_allclose(aggregate.mean_delta, (30 * 0.25 - 10 * 0.5) / 40, atol=PARAMS.error_bound)


def test_the_first_client_starts_the_sum_with_its_own_ciphertexts():
    alice = contribute(1, np.zeros(100), 5, PUB.n, PARAMS)
    assert add_own(alice, b"", envelope.new_private_key(), run_id=9, in_step=0) == alice.ciphertexts


def test_an_envelope_for_another_step_is_refused():
    alice = contribute(1, np.zeros(100), 5, PUB.n, PARAMS)
    bob_key = envelope.new_private_key()
    sealed = forward(alice.ciphertexts, alice, envelope.public_key_of(bob_key), run_id=9, out_step=1)
    with pytest.raises(EnvelopeError, match="failed authentication"):
        add_own(alice, sealed, bob_key, run_id=9, in_step=2)
