"""The client side of a secure round without Flower: contribute, add once, unmask once,
and refuse."""

import numpy as np
import pytest

from clients import secure_chain
from clients.node_policy import ClientPolicy
from clients.secure_chain import Hop, Identity, add, contribute, correct, reseal
from strategies import envelope, paillier_math
from strategies.codec import CodecParams, decode
from strategies.errors import AggregateCheckError, EnvelopeError, ProtocolError
from strategies.keys import generate_keypair
from strategies.privacy import DpSettings
from strategies.roster import Roster
from strategies.round_params import RoundParams

PUB, PRIV = generate_keypair()
PARAMS = CodecParams(2048, 100)
ROUND_PARAMS = RoundParams(PUB.n, PARAMS)
RUN = 9


class Clients:
    """Clients 1..k, each with an update of ``value * id`` on ``10 * id`` e-mails."""

    def __init__(self, k=4, floor=3, server_round=1, params=None):
        self.policy = ClientPolicy(min_clients=floor)
        params = params or {}
        self.me = {i: Identity(i, envelope.new_private_key(), RUN) for i in range(1, k + 1)}
        self.roster = Roster.of(
            {i: envelope.public_key_of(m.chain_key) for i, m in self.me.items()}
        )
        self.state = {
            i: contribute(
                server_round,
                np.full(100, 0.01 * i),
                10 * i,
                params.get(i, ROUND_PARAMS),
                self.policy,
            )[0]
            for i in self.me
        }
        self.round = server_round
        self.sealer = {}  # envelope -> the client that sealed it

    def hop(self, node, envelope_=b"", in_step=0, out_step=1, next_id=0, roster=None, survivors=()):
        inputs = ((envelope_, in_step),) if envelope_ else ()
        return self.add(node, inputs, out_step, next_id, roster, survivors)

    def add(self, node, inputs, out_step, next_id, roster=None, survivors=()):
        inputs = tuple((e, step, self.sealer[e]) for e, step in inputs)
        hop = Hop(
            self.round,
            roster or self.roster.to_bytes(),
            inputs,
            out_step,
            next_id,
            tuple(survivors),
        )
        sealed, seen = add(self.state[node], hop, self.me[node])
        self.sealer[sealed] = node
        return sealed, seen

    def reseal(self, node, out_step, next_id):
        sealed = reseal(
            self.state[node],
            Hop(self.round, self.roster.to_bytes(), (), out_step, next_id),
            self.me[node],
        )
        self.sealer[sealed] = node
        return sealed

    def chain(self, order):
        """Walk ``order`` (a tree of fan-in 1); the masked total and its contributors."""
        sealed = b""
        for step, node in enumerate(order, start=1):
            nxt = order[step] if step < len(order) else 0
            sealed, contributors = self.hop(
                node, sealed, step - 1, step, nxt, survivors=order if not nxt else ()
            )
        return self.total(sealed), contributors

    @staticmethod
    def total(sealed):
        return paillier_math.from_bytes(PUB.n, sealed, PARAMS.num_plaintexts, "total")

    def unmasked(self, total, survivors):
        corrections = [
            correct(self.state[i], self.round, self.roster.to_bytes(), survivors, self.me[i])
            for i in survivors
        ]
        fix = [sum(col) % PUB.n for col in zip(*corrections, strict=True)]
        return decode(
            [PRIV.raw_decrypt(c) for c in paillier_math.add_plain(PUB.n, total, fix)],
            len(survivors),
            PARAMS,
        )


def expected_mean(ids):
    return sum(10 * i * 0.01 * i for i in ids) / sum(10 * i for i in ids)


def assert_mean_of(aggregate, ids):
    """``aggregate`` holds the weighted mean of the updates of clients ``ids``."""
    np.testing.assert_allclose(aggregate.mean_delta, expected_mean(ids), atol=PARAMS.error_bound)


@pytest.fixture(params=[True, False])
def masking(request, monkeypatch):
    """True: the clients' pairwise masks as they are; False: every mask zero."""
    if not request.param:
        monkeypatch.setattr(
            secure_chain.masks, "mask", lambda seed, pairs, me, n, count: [0] * count
        )
    return request.param


def assert_noise_or(masking, plaintexts, contributors, mean):
    """Masked, ``plaintexts`` decode to noise (the header check fails); unmasked, to the
    update of mean ``mean`` from ``contributors`` clients."""
    if masking:
        with pytest.raises(AggregateCheckError):
            decode(plaintexts, contributors, PARAMS)
    else:
        np.testing.assert_allclose(
            decode(plaintexts, contributors, PARAMS).mean_delta, mean, atol=PARAMS.error_bound
        )


def test_masked_chain_total_unmasks_to_the_weighted_sum():
    c = Clients()
    total, contributors = c.chain([3, 1, 4, 2])
    aggregate = c.unmasked(total, contributors)
    assert aggregate.examples == 100
    assert_mean_of(aggregate, [1, 2, 3, 4])


def test_before_unmasking_the_total_decrypts_to_noise():
    c = Clients()
    total, contributors = c.chain([1, 2, 3, 4])
    with pytest.raises(AggregateCheckError):  # header slots are garbage without the corrections
        decode([PRIV.raw_decrypt(x) for x in total], 4, PARAMS)


def test_a_dropped_client_is_corrected_for_by_the_survivors():
    c = Clients()
    sealed, _ = c.hop(1, next_id=2)
    # node 2 never answers; node 1 re-seals the same sum for node 3
    sealed = c.reseal(1, 3, 3)
    sealed, _ = c.hop(3, sealed, 3, 4, 4)
    sealed, contributors = c.hop(4, sealed, 4, 5, 0, survivors=[1, 3, 4])
    assert contributors == [1, 3, 4]
    total = paillier_math.from_bytes(PUB.n, sealed, PARAMS.num_plaintexts, "total")
    assert_mean_of(c.unmasked(total, contributors), [1, 3, 4])


def colluder_opens(c, node, sealed, in_step):
    """What a colluding ``node`` sees: the running sum in the envelope it was sent."""
    c.state[node].roster = c.roster.to_bytes()
    return secure_chain._open(
        c.state[node], c.me[node], c.roster, sealed, in_step, c.sealer[sealed]
    )[0]


def test_a_colluders_incoming_sum_decrypts_to_noise_and_without_masks_to_its_predecessors(
    masking,
):
    c = Clients()
    sealed, _ = c.hop(1, next_id=2)
    sealed, _ = c.hop(2, sealed, 1, 2, 3)
    plaintexts = [PRIV.raw_decrypt(x) for x in colluder_opens(c, 3, sealed, 2)]
    assert_noise_or(masking, plaintexts, 2, expected_mean([1, 2]))


# ------------------------------------------------------- what a client refuses
def test_a_client_adds_its_contribution_once_per_round():
    c = Clients()
    c.hop(1, next_id=2)
    with pytest.raises(ProtocolError, match="already in a pass"):
        c.hop(1, next_id=3, out_step=2)


def test_a_chain_of_one_is_refused():
    c = Clients()
    with pytest.raises(ProtocolError, match="below this node's floor"):
        c.hop(1, next_id=0, survivors=[1])


def test_a_roster_below_the_floor_or_without_the_client_is_refused():
    c = Clients(k=4)
    small = Roster.of({i: c.roster.keys[i] for i in (1, 2)}).to_bytes()
    with pytest.raises(ProtocolError, match="below this node's floor"):
        c.hop(1, next_id=2, roster=small)
    other = Roster.of(
        {
            **{i: c.roster.keys[i] for i in (2, 3, 4)},
            1: envelope.public_key_of(envelope.new_private_key()),
        }
    ).to_bytes()
    with pytest.raises(ProtocolError, match="own chain key"):
        Clients(k=4).hop(1, next_id=2, roster=other)


def test_the_next_hop_must_be_another_roster_member():
    c = Clients()
    with pytest.raises(ProtocolError, match="another roster member"):
        c.hop(1, next_id=1)
    with pytest.raises(ProtocolError, match="another roster member"):
        c.hop(1, next_id=77)


def test_an_envelope_fed_back_to_its_sender_is_refused():
    c = Clients()
    sealed, _ = c.hop(1, next_id=2)
    with pytest.raises(ProtocolError, match="already in a pass"):
        c.hop(1, sealed, 1, 2, 3)


def test_steps_only_increase():
    c = Clients()
    sealed, _ = c.hop(1, next_id=2, out_step=5)
    with pytest.raises(ProtocolError, match="only increase"):
        c.hop(2, sealed, 5, 5, 3)


def test_a_resealed_sum_never_becomes_a_total_nor_goes_back():
    c = Clients()
    c.hop(1, next_id=2)
    with pytest.raises(ProtocolError, match="never becomes a total"):
        reseal(c.state[1], Hop(1, c.roster.to_bytes(), (), 2, 0), c.me[1])
    with pytest.raises(ProtocolError, match="already sealed"):
        reseal(c.state[1], Hop(1, c.roster.to_bytes(), (), 2, 2), c.me[1])


def test_a_round_whose_roster_changes_is_refused():
    c = Clients(k=4)
    c.hop(1, next_id=2)
    fewer = Roster.of({i: c.roster.keys[i] for i in (1, 2, 3)}).to_bytes()
    with pytest.raises(ProtocolError, match="roster changed"):
        correct(c.state[1], 1, fewer, [1, 2, 3], c.me[1])


def test_an_envelope_sealed_under_another_roster_does_not_open():
    c = Clients(k=4)
    sealed, _ = c.hop(1, next_id=2)
    other = Clients(k=4)
    other.me[2] = c.me[2]
    other.state[2] = c.state[2]
    keys = dict(other.roster.keys)
    keys[2] = c.roster.keys[2]
    other.roster = Roster.of(keys)
    other.sealer = c.sealer
    with pytest.raises(EnvelopeError):
        other.hop(2, sealed, 1, 2, 3)


@pytest.mark.parametrize(
    "problem, survivors, match",
    [
        ("below floor", [1, 2], "below this node's floor"),
        ("without itself", [2, 3, 4], "survivor set leaves out|lacks"),
        ("outside roster", [1, 2, 99], "outside the roster"),
    ],
)
def test_a_client_refuses_a_bad_survivor_set(problem, survivors, match):
    c = Clients(k=4)
    total, contributors = c.chain([1, 2, 3, 4])
    with pytest.raises(ProtocolError):
        correct(c.state[1], 1, c.roster.to_bytes(), survivors, c.me[1])


def test_a_client_corrects_once_and_never_drops_someone_it_saw_contribute():
    c = Clients(k=4)
    total, contributors = c.chain([1, 2, 3, 4])
    with pytest.raises(ProtocolError, match="seen contributing"):
        correct(c.state[3], 1, c.roster.to_bytes(), [1, 3, 4], c.me[3])  # 3 saw 1 and 2 before it
    correct(c.state[4], 1, c.roster.to_bytes(), [1, 2, 3, 4], c.me[4])
    with pytest.raises(ProtocolError, match="already corrected"):
        correct(c.state[4], 1, c.roster.to_bytes(), [1, 2, 3, 4], c.me[4])


def test_the_node_decides_on_demo_keys_not_the_server():
    small, _ = generate_keypair(512, insecure_demo_key=True)
    with pytest.raises(ProtocolError, match="minimum is 2048"):
        contribute(1, np.zeros(10), 1, RoundParams(small.n, CodecParams(512, 10)), ClientPolicy())
    contribute(
        1,
        np.zeros(10),
        1,
        RoundParams(small.n, CodecParams(512, 10)),
        ClientPolicy(insecure_demo_key=True),
    )


def test_the_node_floor_comes_from_node_config_and_never_below_two():
    assert ClientPolicy.from_node_config({}).min_clients == 3
    assert ClientPolicy.from_node_config({"min-clients": 5}).min_clients == 5
    with pytest.raises(ValueError, match="min-clients"):
        ClientPolicy.from_node_config({"min-clients": 1})


def test_noise_sized_for_more_clients_raises_the_floor():
    dp = DpSettings(clip=0.5, noise_multiplier=1.0, min_clients=90)
    params = RoundParams(PUB.n, CodecParams(2048, 100, clip=dp.value_bound), dp)
    state, _ = contribute(1, np.zeros(100), 1, params, ClientPolicy(min_clients=3))
    assert state.floor == 90


# ------------------------------------------------------------ tree of fan-in 2
def leaves(c):
    """Leaves 3 and 4 seal for 2, at steps 1 and 2: their envelopes."""
    e3, _ = c.hop(3, next_id=2, out_step=1)
    e4, _ = c.hop(4, next_id=2, out_step=2)
    return e3, e4


def tree(c):
    """Leaves 3 and 4 seal for 2; 2 seals for the root 1: the root's total and contributors."""
    e3, e4 = leaves(c)
    e2, seen = c.add(2, [(e3, 1), (e4, 2)], 3, 1)
    assert seen == [3, 4, 2]
    total, contributors = c.add(1, [(e2, 3)], 4, 0, survivors=[3, 4, 2, 1])
    return c.total(total), contributors


def test_a_tree_total_unmasks_to_the_weighted_sum():
    c = Clients()
    total, contributors = tree(c)
    assert_mean_of(c.unmasked(total, contributors), [1, 2, 3, 4])


def test_two_incoming_sums_with_a_shared_contributor_are_refused():
    c = Clients()
    e3, _ = c.hop(3, next_id=2, out_step=1)
    with pytest.raises(ProtocolError, match="share a contributor"):
        c.add(
            2, [(e3, 1), (e3, 1)], 3, 1
        )  # the same child counted twice would isolate it by difference


@pytest.mark.parametrize("survivors", [[3, 4, 2], [3, 4, 2, 1, 5], [4, 2, 1]])
def test_the_root_totals_only_for_exactly_its_contributors(survivors):
    c = Clients(k=5)
    e3, e4 = leaves(c)
    e2, _ = c.add(2, [(e3, 1), (e4, 2)], 3, 1)
    with pytest.raises(ProtocolError, match="not the contributors"):
        c.add(1, [(e2, 3)], 4, 0, survivors=survivors)


def test_no_reseal_after_correcting():
    c = Clients()
    total, contributors = tree(c)
    correct(c.state[3], 1, c.roster.to_bytes(), contributors, c.me[3])
    with pytest.raises(ProtocolError, match="corrected already"):
        reseal(c.state[3], Hop(1, c.roster.to_bytes(), (), 5, 4), c.me[3])


def test_a_colluding_parent_sees_each_childs_sum_as_noise_and_without_masks_each_update(
    masking,
):
    c = Clients()
    e3, e4 = leaves(c)
    for child, sealed, step in [(3, e3, 1), (4, e4, 2)]:
        plaintexts = [PRIV.raw_decrypt(x) for x in colluder_opens(c, 2, sealed, step)]
        assert_noise_or(masking, plaintexts, 1, 0.01 * child)


def test_an_incoming_sum_must_end_with_its_senders_contribution():
    """Sealed by node 3 as node 3, but holding a sum that does not end with 3: refused."""
    c = Clients()
    c.state[3].seen = [4]  # what node 3 would claim if it lied about its sum
    c.state[3].running = c.state[4].ciphertexts
    c.state[3].roster = c.roster.to_bytes()
    liar = secure_chain._pass_on(
        c.state[3], c.me[3], c.roster, Hop(1, c.roster.to_bytes(), (), 1, 2)
    )
    c.sealer[liar] = 3
    with pytest.raises(ProtocolError, match="sender's contribution"):
        c.hop(2, liar, 1, 2, 1)


def test_a_reseal_adds_nothing():
    c = Clients()
    c.hop(1, next_id=2)
    e3, _ = c.hop(3, next_id=2, out_step=2)
    with pytest.raises(ProtocolError, match="adds nothing"):
        reseal(c.state[1], Hop(1, c.roster.to_bytes(), ((e3, 2, 3),), 3, 4), c.me[1])


def test_corrections_sent_before_the_total_leave_a_colluding_roots_inputs_noise(
    masking, monkeypatch
):
    """Corrections go out in parallel with the root's request: if the root colludes and never
    returns a total, a child's sum plus that child's correction and the root's own pairwise
    term with it is still masked by the child's masks with its honest siblings."""
    if not masking:
        monkeypatch.setattr(secure_chain.masks, "correction", lambda *args: [0] * args[-1])
    c = Clients()
    e3, _ = c.hop(3, next_id=1, out_step=1)  # a leaf right under the root, 1
    e4, _ = c.hop(4, next_id=2, out_step=2)
    c.add(2, [(e4, 2)], 3, 1)
    survivors = [3, 4, 2, 1]
    fix = correct(c.state[3], 1, c.roster.to_bytes(), survivors, c.me[3])
    opened = colluder_opens(c, 1, e3, 1)
    seed = secure_chain.masks.pairwise_seed(
        c.me[1].chain_key, 1, c.roster.keys[3], 3, RUN, 1, c.state[1].binding
    )
    own_term = [
        -v * masking for v in secure_chain.masks.expand(seed, PUB.n, len(opened))
    ]  # 3 > 1: 3 took it off
    plaintexts = [
        (PRIV.raw_decrypt(x) + f - t) % PUB.n for x, f, t in zip(opened, fix, own_term, strict=True)
    ]
    assert_noise_or(masking, plaintexts, 1, 0.03)


# ---------------------------------------------------- the round's parameters
def test_clients_given_other_parameters_cannot_share_a_sum():
    """Issue 21: the parameter digest is in every envelope's associated data. A client whose
    codec differs (here: another clip) cannot open its child's envelope, and its parent
    cannot open its own."""
    other = RoundParams(PUB.n, CodecParams(2048, 100, clip=4.0))
    c = Clients(params={2: other})
    sealed, _ = c.hop(1, next_id=2)
    with pytest.raises(EnvelopeError, match="failed authentication"):
        c.hop(2, sealed, 1, 2, 3)
    c = Clients(params={2: other})
    sealed, _ = c.hop(2, next_id=3)
    with pytest.raises(EnvelopeError, match="failed authentication"):
        c.hop(3, sealed, 1, 2, 4)


def test_every_value_that_shapes_an_update_changes_the_digest():
    dp = DpSettings(clip=0.5, noise_multiplier=1.0, min_clients=3)
    base = RoundParams(PUB.n, CodecParams(2048, 100, clip=dp.value_bound), dp, b"model")
    other_key = generate_keypair()[0].n
    variants = [
        RoundParams(other_key, base.codec, dp, b"model"),
        RoundParams(PUB.n, CodecParams(2048, 101, clip=dp.value_bound), dp, b"model"),
        RoundParams(PUB.n, CodecParams(2048, 100, clip=dp.value_bound + 1e-9), dp, b"model"),
        RoundParams(PUB.n, CodecParams(2048, 100, dp.value_bound, 15_999), dp, b"model"),
        RoundParams(PUB.n, base.codec, DpSettings(0.5 + 1e-12, 1.0, 3), b"model"),
        RoundParams(PUB.n, base.codec, DpSettings(0.5, 1.0 + 1e-12, 3), b"model"),
        RoundParams(PUB.n, base.codec, DpSettings(0.5, 1.0, 4), b"model"),
        RoundParams(PUB.n, base.codec, None, b"model"),
        RoundParams(PUB.n, base.codec, dp, b"another model"),
    ]
    digests = {base.digest(), *(v.digest() for v in variants)}
    assert len(digests) == len(variants) + 1
    assert base.run_digest() == variants[-1].run_digest()  # the model is per round
