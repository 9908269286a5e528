"""Sealed envelopes: only the addressed client opens them, only as coming from their sender,
and only in their run, round and step."""

import pytest

from strategies import envelope
from strategies.errors import EnvelopeError


def keypair():
    private = envelope.new_private_key()
    return private, envelope.public_key_of(private)


@pytest.fixture
def bob():
    return keypair()


@pytest.fixture
def alice():
    return keypair()


def aad(
    step=3,
    run=7,
    rnd=2,
    to=b"\x00" * 32,
    paillier="abc",
    roster=b"\x01" * 32,
    sender=b"\x02" * 32,
    params=b"\x04" * 32,
):
    return envelope.associated_data(run, rnd, step, to, paillier, roster, sender, params)


def test_round_trip(bob, alice):
    private, public = bob
    sealed = envelope.seal(b"running sum", public, aad(to=public), alice[0])
    assert b"running sum" not in sealed
    assert envelope.open_envelope(sealed, private, aad(to=public), alice[1]) == b"running sum"


@pytest.mark.parametrize(
    "change", ["step", "round", "run", "paillier", "roster", "sender", "params"]
)
def test_an_envelope_replayed_elsewhere_does_not_open(bob, alice, change):
    private, public = bob
    sealed = envelope.seal(b"sum", public, aad(to=public), alice[0])
    moved = {
        "step": aad(step=4, to=public),
        "round": aad(rnd=3, to=public),
        "run": aad(run=8, to=public),
        "paillier": aad(paillier="xyz", to=public),
        "roster": aad(roster=b"\x02" * 32, to=public),
        "sender": aad(to=public, sender=b"\x03" * 32),
        "params": aad(to=public, params=b"\x05" * 32),  # sealed under other round parameters
    }[change]
    with pytest.raises(EnvelopeError, match="failed authentication"):
        envelope.open_envelope(sealed, private, moved, alice[1])


def test_tampered_truncated_or_misaddressed_envelopes_do_not_open(bob, alice):
    private, public = bob
    sealed = envelope.seal(b"sum" * 100, public, aad(to=public), alice[0])
    tampered = sealed[:60] + bytes([sealed[60] ^ 1]) + sealed[61:]
    with pytest.raises(EnvelopeError, match="failed authentication"):
        envelope.open_envelope(tampered, private, aad(to=public), alice[1])
    with pytest.raises(EnvelopeError, match="failed authentication"):
        envelope.open_envelope(sealed[:-5], private, aad(to=public), alice[1])
    with pytest.raises(EnvelopeError, match="truncated"):
        envelope.open_envelope(sealed[:20], private, aad(to=public), alice[1])
    eve = envelope.new_private_key()
    with pytest.raises(EnvelopeError, match="failed authentication"):
        envelope.open_envelope(sealed, eve, aad(to=public), alice[1])
    with pytest.raises(EnvelopeError, match="32-byte X25519 public key"):
        envelope.seal(b"x", public[:31], aad(), alice[0])


def test_whoever_does_not_hold_the_senders_key_cannot_seal_as_the_sender(bob, alice):
    """The server knows every public key and the associated data: it can seal for Bob, but
    not as Alice, so it cannot forge a child's sum or pass one child's off as another's."""
    private, public = bob
    server = envelope.new_private_key()
    forged = envelope.seal(
        b"Enc(0), contributors [alice]", public, aad(to=public, sender=alice[1]), server
    )
    with pytest.raises(EnvelopeError, match="failed authentication"):
        envelope.open_envelope(forged, private, aad(to=public, sender=alice[1]), alice[1])
