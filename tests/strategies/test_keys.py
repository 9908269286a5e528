"""Key policy: safe sizes by default, checks on received moduli."""

import logging

import pytest

from strategies.errors import InsecureKeyError
from strategies.keys import (
    MIN_KEY_BITS,
    fingerprint,
    generate_keypair,
    n_from_bytes,
    n_to_bytes,
    public_key_from_n,
)


def test_default_keys_are_2048_bits_and_3072_is_an_option():
    assert generate_keypair()[0].n.bit_length() == 2048
    assert generate_keypair(3072)[0].n.bit_length() == 3072


@pytest.mark.parametrize(
    "bits, demo", [(1024, False), (128, False), (128, True), (0, True), (8193, True)]
)
def test_keys_outside_the_policy_are_refused_even_with_the_demo_flag_below_256(bits, demo):
    with pytest.raises(InsecureKeyError, match=f"Refusing a {bits}-bit Paillier key"):
        generate_keypair(bits, insecure_demo_key=demo)


def test_small_keys_with_the_demo_flag_warn_loudly(caplog):
    with caplog.at_level(logging.WARNING, logger="strategies"):
        pub, _ = generate_keypair(256, insecure_demo_key=True)
    assert pub.n.bit_length() == 256
    assert "INSECURE DEMO KEY" in caplog.text


def test_received_moduli_are_checked():
    pub, _ = generate_keypair()
    assert public_key_from_n(n_from_bytes(n_to_bytes(pub.n))).n == pub.n
    with pytest.raises(InsecureKeyError):
        public_key_from_n(generate_keypair(512, insecure_demo_key=True)[0].n)
    with pytest.raises(ValueError, match="even or a square"):
        public_key_from_n(pub.n + 1)
    with pytest.raises(ValueError, match="small factor 3"):
        public_key_from_n(3 * (2 ** (MIN_KEY_BITS - 2) + 1))
    with pytest.raises(ValueError, match="oversized 8193-bit"):
        public_key_from_n(2**8192 + 1)
    assert fingerprint(pub.n) != fingerprint(generate_keypair()[0].n)
