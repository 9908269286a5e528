"""Raw Paillier operations and ciphertext validation at trust boundaries."""

import pytest

from strategies import paillier_math
from strategies.errors import CiphertextError
from strategies.keys import generate_keypair


@pytest.fixture(scope="module")
def keypair():
    return generate_keypair(2048)


def test_encryption_is_phe_compatible_and_additively_homomorphic(keypair):
    pub, priv = keypair
    a = paillier_math.encrypt_many(pub.n, [123, 2**1000])
    b = paillier_math.encrypt_many(pub.n, [877, 5])
    total = paillier_math.add(pub.n, a, b)
    assert [priv.raw_decrypt(c) for c in total] == [1000, 2**1000 + 5]
    assert a[0] != paillier_math.encrypt_many(pub.n, [123])[0]  # randomised


def test_serialisation_round_trips_with_fixed_width(keypair):
    pub, _ = keypair
    cts = paillier_math.encrypt_many(pub.n, [1, 2, 3])
    data = paillier_math.to_bytes(pub.n, cts)
    assert len(data) == 3 * paillier_math.ciphertext_width(pub.n) == 3 * 512
    assert paillier_math.from_bytes(pub.n, data, 3, "test") == cts


@pytest.mark.parametrize(
    "make_bad, message",
    [
        (lambda n: 0, "ciphertext 1 is 0"),
        (lambda n: n * n, "is >= n^2"),
        (lambda n: n * n + 12345, "is >= n^2"),
        (lambda n: n, "not a unit mod n^2"),
        (lambda n: 3 * n + 0, "not a unit mod n^2"),
    ],
)
def test_invalid_ciphertexts_are_refused_naming_the_source(keypair, make_bad, message):
    pub, _ = keypair
    good = paillier_math.encrypt_many(pub.n, [7])[0]
    with pytest.raises(CiphertextError) as info:
        paillier_math.validate(pub.n, [good, make_bad(pub.n)], source="hop 2")
    assert message in str(info.value) and "hop 2" in str(info.value)


def test_wrong_length_payload_is_refused(keypair):
    pub, _ = keypair
    data = paillier_math.to_bytes(pub.n, paillier_math.encrypt_many(pub.n, [1, 2]))
    with pytest.raises(CiphertextError, match="expected 2 ciphertexts of 512 bytes"):
        paillier_math.from_bytes(pub.n, data[:-1], 2, "hop 1")


def test_plaintext_out_of_range_is_refused(keypair):
    pub, _ = keypair
    with pytest.raises(ValueError, match=r"plaintext in \[0, n\)"):
        paillier_math.encrypt(pub.n, pub.n, paillier_math.random_obfuscator(pub.n))
