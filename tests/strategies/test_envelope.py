"""Sealed envelopes: only the addressed client, run, round and step open them."""

import pytest

from strategies import envelope
from strategies.errors import EnvelopeError


@pytest.fixture
def bob():
    private = envelope.new_private_key()
    return private, envelope.public_key_of(private)


def aad(step=3, run=7, rnd=2, to=b"\x00" * 32, paillier="abc", roster=b"\x01" * 32):
    return envelope.associated_data(run, rnd, step, to, paillier, roster)


def test_round_trip(bob):
    private, public = bob
    sealed = envelope.seal(b"running sum", public, aad(to=public))
    assert b"running sum" not in sealed
    assert envelope.open_envelope(sealed, private, aad(to=public)) == b"running sum"


@pytest.mark.parametrize(
    "change",
    ["step", "round", "run", "paillier", "roster"],
)
def test_an_envelope_replayed_elsewhere_does_not_open(bob, change):
    private, public = bob
    sealed = envelope.seal(b"sum", public, aad(to=public))
    moved = {"step": aad(step=4, to=public), "round": aad(rnd=3, to=public),
             "run": aad(run=8, to=public), "paillier": aad(paillier="xyz", to=public),
             "roster": aad(roster=b"\x02" * 32, to=public)}[change]
    with pytest.raises(EnvelopeError, match="failed authentication"):
        envelope.open_envelope(sealed, private, moved)


def test_tampered_truncated_or_misaddressed_envelopes_do_not_open(bob):
    private, public = bob
    sealed = envelope.seal(b"sum" * 100, public, aad(to=public))
    tampered = sealed[:60] + bytes([sealed[60] ^ 1]) + sealed[61:]
    with pytest.raises(EnvelopeError, match="failed authentication"):
        envelope.open_envelope(tampered, private, aad(to=public))
    with pytest.raises(EnvelopeError, match="failed authentication"):
        envelope.open_envelope(sealed[:-5], private, aad(to=public))
    with pytest.raises(EnvelopeError, match="truncated"):
        envelope.open_envelope(sealed[:20], private, aad(to=public))
    eve = envelope.new_private_key()
    with pytest.raises(EnvelopeError, match="failed authentication"):
        envelope.open_envelope(sealed, eve, aad(to=public))
    with pytest.raises(EnvelopeError, match="32-byte X25519 public key"):
        envelope.seal(b"x", public[:31], aad())
