"""The book's attack and every attack on the secure round, run as a server and colluders would.

Bob trains on the single e-mail "my computer password is pizza". Under plain
FedAvg his reply carries his new weights, and the words whose weights
changed are exactly his e-mail's: that is the baseline that leaks. Each
other column is one way to get at Bob's update through the secure round
(``fl_app/attack_arena.py`` lets the server send any request it likes to the
real clients), and reports what it recovered.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message
from flwr.serverapp.strategy import FedAvg, Strategy

from clients.node_policy import ClientPolicy
from clients.secure_chain import RoundState, contribute
from clients.spam_client import SpamClient
from data.prepare import PreparedData
from strategies import envelope, masks, paillier_math, wire
from strategies.chain import PaillierChainFedAvg
from strategies.codec import DEFAULT_CLIP, FRAC_BITS, HEADER_SLOTS, CodecParams, decode, unpack
from strategies.errors import CODE_BAD_ENVELOPE, SecureAggregationError
from strategies.keys import generate_keypair
from strategies.privacy import (
    DEFAULT_DELTA,
    MIN_SHARE_STEPS,
    DpSettings,
    clip_l2,
    noise_multiplier_for,
    rounding_slack,
)
from strategies.roster import Roster
from strategies.round_params import RoundParams

from .attack_arena import Arena, Split, reply_bytes
from .client_app import (
    CHAIN_KEY_STATE,
    build_client_app,
    load_round_state,
    save_round_state,
)
from .config import RunConfig
from .dataset import load_data, make_client
from .federation import make_federation
from .local_grid import FIRST_NODE_ID, LocalGrid, run_strategy

BOB_EMAIL = "my computer password is pizza"
BOB_NODE = FIRST_NODE_ID  # partition 0
# The book trains Bob's copy with batch size 1 on his one e-mail, labelled ham.
BOB_LABEL = 0
CLIENTS = 3


def attack_config(seed: int = 0) -> RunConfig:
    """The book's chapter 15: Bob, Alice and Sue with the book's recipe, on the synthetic
    corpus, whose vocabulary holds Bob's words (the demo is about leaks, not model quality)."""
    return RunConfig.from_mapping(
        {
            "num-clients": CLIENTS,
            "min-clients": CLIENTS,
            "seed": seed,
            "corpus": "synthetic",
            "preset": "book",
        }
    )


# A curious server's shortlist: the words whose weights moved most in the sum.
SHORTLIST = 50
# The DP column: client-level DP at this epsilon for the one round shown.
DP_EPSILON = 8.0
DP_CLIP = 0.5
# The DP attack: one client claims this many e-mails to take the mean over.
CLAIMED_EXAMPLES = 15_000
LOSS_MATCH = 1e-12  # a candidate word reproduces Bob's loss to within this


@dataclass(frozen=True)
class Scenario:
    """Where the attacks run: a corpus (its vocabulary must hold Bob's words) and Bob's e-mail."""

    cfg: RunConfig
    bob_email: str = BOB_EMAIL
    key_bits: int = 2048
    insecure_demo_key: bool = False

    @property
    def words(self) -> list[str]:
        """Bob's words, in order; the last one is what the loss attack guesses."""
        return self.bob_email.split()


class Federation:
    """Bob (partition 0) and the others, as real ClientApp nodes, with the server's key."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.data = load_data(scenario.cfg)
        missing = [w for w in scenario.words if w not in self.data.vocabulary.index]
        if missing:
            raise ValueError(
                f"Bob's words {missing} are not in the vocabulary of {self.data.corpus}"
            )
        self.bob = self._bob_client()
        self.app = build_client_app(self.client_for)
        self.keypair = generate_keypair(scenario.key_bits, scenario.insecure_demo_key)
        self.weights = np.zeros((len(self.data.vocabulary), 1))
        # Bob's batch of 500 is his one e-mail: the book trains his copy on it alone.
        self.train_config = {
            "lr": scenario.cfg.lr,
            "local-epochs": 1,
            "batch-size": scenario.cfg.batch_size,
        }
        self.node_config = {wire.NODE_INSECURE_DEMO_KEY: scenario.insecure_demo_key}

    def _bob_client(self) -> SpamClient:
        train = self.data.vocabulary.encode([self.scenario.words], [BOB_LABEL])
        recipe = replace(self.scenario.cfg.recipe, batch_size=1, local_epochs=1)
        return SpamClient(
            train, self.data.test.subset(np.arange(10)), len(self.data.vocabulary), recipe
        )

    def client_for(self, context: Context) -> SpamClient:
        """Bob on partition 0, the run's shards elsewhere."""
        partition = int(context.node_config["partition-id"])
        return self.bob if partition == 0 else make_client(self.scenario.cfg, partition)

    def arena(self, node_config: dict | list[dict] | None = None) -> Arena:
        """A fresh federation the server may deviate against."""
        return Arena.create(
            self.app,
            CLIENTS,
            self.scenario.cfg.to_dict(),
            self.keypair,
            self.data,
            node_config or self.node_config,
        )

    def secure(
        self, clip: float = DEFAULT_CLIP, one_example_each: bool = False
    ) -> PaillierChainFedAvg:
        """The honest strategy over every client."""
        return PaillierChainFedAvg(
            min_clients=CLIENTS,
            keypair=self.keypair,
            min_train_nodes=CLIENTS,
            min_available_nodes=CLIENTS,
            insecure_demo_key=self.scenario.insecure_demo_key,
            clip=clip,
            one_example_each=one_example_each,
        )

    def run(
        self,
        strategy: Strategy,
        rounds: int = 1,
        train_config: dict | None = None,
        initial: np.ndarray | None = None,
    ) -> tuple[list[np.ndarray], LocalGrid]:
        """``rounds`` of ``strategy`` over a fresh in-process grid; plain FedAvg (the
        baseline) as a plain run whose nodes allow plain rounds."""
        return run_strategy(
            strategy,
            self.app,
            CLIENTS,
            self.scenario.cfg.to_dict(),
            [self.weights if initial is None else initial],
            train_config or self.train_config,
            rounds,
            node_config=self.node_config,
            plain=not isinstance(strategy, PaillierChainFedAvg),
        )


def _result(recovered: list[str], arena_or_count: Arena | int, **extra: object) -> dict:
    inspected = arena_or_count if isinstance(arena_or_count, int) else len(arena_or_count.messages)
    return {"recovered": sorted(set(recovered)), "messages_inspected": inspected, **extra}


def _changed_words(delta: np.ndarray, data: PreparedData) -> list[str]:
    return sorted(data.vocabulary.words[i] for i in np.flatnonzero(delta.ravel() != 0))


def _plain() -> FedAvg:
    """Plain FedAvg over every client, no federated evaluation."""
    return FedAvg(min_train_nodes=CLIENTS, min_available_nodes=CLIENTS, fraction_evaluate=0.0)


# ------------------------------------------------------------------ baseline
def attack_plain(fed: Federation) -> dict:
    """Plain FedAvg: the server reads Bob's reply.

    His new weights minus the global ones are his e-mail.
    """
    _, grid = fed.run(_plain())
    recovered = []
    for msg in grid.received:
        if msg.metadata.src_node_id == BOB_NODE and not msg.has_error():
            recovered = _changed_words(
                msg.content.array_records["arrays"].to_numpy_ndarrays()[0] - fed.weights, fed.data
            )
    return _result(recovered, len(grid.received))


# ------------------------------------------------------- 1. per-client metrics
def guess_last_word(fed: Federation, loss: float, weights: np.ndarray) -> list[str]:
    """Every word that, as the last of Bob's e-mail, reproduces his training loss from ``weights``.

    Bob's one e-mail trained with batch 1 reports the loss before its one
    step: the model's loss on the e-mail with the round's starting weights.
    """
    index = fed.data.vocabulary.index
    known = [index[w] for w in fed.scenario.words[:-1]]
    logits = weights[known, 0].sum() + weights[:, 0]
    predictions = 0.5 * (1.0 + np.tanh(0.5 * logits))
    if fed.scenario.cfg.loss == "mse":
        losses = (predictions - BOB_LABEL) ** 2
    else:
        losses = np.logaddexp(0.0, logits) - BOB_LABEL * logits
    matches = np.flatnonzero(np.abs(losses - loss) <= LOSS_MATCH)
    return [fed.data.vocabulary.words[i] for i in matches if i not in known and i != 0]


def _per_client_numbers(msg: Message) -> list[float]:
    """Every number a reply carries in clear, outside the protocol's own fields."""
    values: list[float] = []
    for record in msg.content.metric_records.values():
        values.extend(float(v) for v in record.values() if isinstance(v, int | float))
    return values


def attack_metrics(fed: Federation, secure: bool = True) -> dict:
    """Curious server: Bob's round-2 training loss gives away his last word.

    Two rounds; the server knows the global weights Bob starts round 2 from,
    and every number in Bob's replies. With a per-client loss in clear one
    word of the vocabulary reproduces it: ``pizza``.
    """
    first, _ = fed.run(fed.secure() if secure else _plain())
    round2, grid = fed.run(fed.secure() if secure else _plain(), initial=first[0])
    recovered: list[str] = []
    numbers = [
        v
        for m in grid.received
        if m.metadata.src_node_id == BOB_NODE
        for v in _per_client_numbers(m)
    ]
    # The round's aggregate metrics: not Bob's, but a curious server tries them too.
    if grid.result is not None:
        for metrics in grid.result.train_metrics_clientapp.values():
            numbers.extend(float(v) for v in metrics.values() if isinstance(v, int | float))
    for value in numbers:
        recovered.extend(guess_last_word(fed, value, first[0]))
    errors = [m.error.reason or "" for m in grid.received if m.has_error()]
    return _result(
        recovered,
        len(grid.received),
        numbers_tried=len(numbers),
        error_texts_with_digits=sum(any(ch.isdigit() for ch in e) for e in errors),
    )


# ------------------------------------------------------------ 2. late reply
def attack_late_reply(fed: Federation) -> dict:
    """Curious server keeps a late reply: Bob, last, "times out" but his total arrives anyway;
    the server then asks the previous holder to turn its running sum into a second total.
    Two totals that differ by Bob would give Bob's update."""
    arena = fed.arena()
    roster, _ = arena.train(1, fed.weights, fed.train_config)
    alice, sue = [n for n in arena.nodes if n != BOB_NODE]
    first = arena.hop(alice, 1, roster, next_id=sue)
    second = arena.hop(sue, 1, roster, _env(first), 1, 2, BOB_NODE, sender=alice)
    # The reply that came "too late":
    late = arena.hop(
        BOB_NODE, 1, roster, _env(second), 2, 3, 0, survivors=[alice, sue, BOB_NODE], sender=sue
    )
    again = arena.hop(
        sue, 1, roster, out_step=4, next_id=0, action=wire.RESEAL, survivors=[alice, sue]
    )
    refused = [name for name, reply in [("reseal-as-total", again)] if reply.has_error()]
    recovered: list[str] = []
    if not late.has_error() and not again.has_error():
        with_bob = arena.decrypt(arena.total_of(late))
        without = arena.decrypt(arena.total_of(again))
        recovered = arena.words_of_single_update(
            [(a - b) % arena.n for a, b in zip(with_bob, without, strict=True)]
        )
    return _result(recovered, arena, refused=refused)


def _env(reply: Message) -> bytes:
    return reply_bytes(reply, wire.ENVELOPE) if not reply.has_error() else b""


# ------------------------------------------------------- 3. deviating server
def attack_deviating(fed: Federation) -> dict:
    """A server that breaks the protocol, within the honest roster:

    a chain of one (Bob returns his own total), Bob told to seal for himself
    (counted twice), and a second pass over {Alice, Sue} after a pass over
    {Bob, Alice, Sue} (Bob by difference).
    """
    arena = fed.arena()
    roster, _ = arena.train(1, fed.weights, fed.train_config)
    alice, sue = [n for n in arena.nodes if n != BOB_NODE]
    recovered: list[str] = []
    alone = arena.hop(BOB_NODE, 1, roster, next_id=0, survivors=[BOB_NODE])
    if not alone.has_error():
        recovered += arena.words_of_single_update(arena.decrypt(arena.total_of(alone)))
    to_himself = arena.hop(BOB_NODE, 1, roster, out_step=2, next_id=BOB_NODE)
    first = arena.hop(BOB_NODE, 1, roster, out_step=3, next_id=alice)
    second = arena.hop(alice, 1, roster, _env(first), 3, 4, sue, sender=BOB_NODE)
    total_all = arena.hop(
        sue, 1, roster, _env(second), 4, 5, 0, survivors=[BOB_NODE, alice, sue], sender=alice
    )
    again = arena.hop(alice, 1, roster, out_step=6, next_id=sue)
    if not again.has_error():
        total_two = arena.hop(
            sue, 1, roster, _env(again), 6, 7, 0, survivors=[alice, sue], sender=alice
        )
        if not total_two.has_error() and not total_all.has_error():
            everyone = arena.decrypt(arena.total_of(total_all))
            two = arena.decrypt(arena.total_of(total_two))
            recovered += arena.words_of_single_update(
                [(x - y) % arena.n for x, y in zip(everyone, two, strict=True)]
            )
    requests = {"chain-of-one": alone, "seal-for-himself": to_himself, "second-pass": again}
    return _result(
        recovered, arena, refused=[name for name, r in requests.items() if r.has_error()]
    )


# ------------------------------------------------ 3b. the same round twice
def attack_retrain(fed: Federation) -> dict:
    """Deviating server: a full round over everyone, then round 1's training message again to
    everyone but Bob, and a second pass over them: the two sums differ by exactly Bob."""
    arena = fed.arena()
    roster, _ = arena.train(1, fed.weights, fed.train_config)
    others = [n for n in arena.nodes if n != BOB_NODE]
    everyone = arena.unmasked_total(1, roster, [BOB_NODE, *others])
    again, _ = arena.train(1, fed.weights, fed.train_config, nodes=others)
    recovered: list[str] = []
    if len(again) == len(others):
        without = arena.unmasked_total(1, again, others)
        if everyone is not None and without is not None:
            recovered = arena.words_of_single_update(
                [(a - b) % arena.n for a, b in zip(everyone, without, strict=True)]
            )
    return _result(
        recovered, arena, refused=["train-round-again"] if len(again) < len(others) else []
    )


def _bisect(probe: Callable[[int], bool], high: int) -> tuple[int, int, int]:
    """The least ``t`` in ``1..high`` for which ``probe(t)`` holds, by bisection (``probe``
    must be monotone for the answer to mean anything); with how many probes held and failed."""
    low, held, failed = 1, 0, 0
    while low < high:
        middle = (low + high) // 2
        if probe(middle):
            high, held = middle, held + 1
        else:
            low, failed = middle + 1, failed + 1
    return low, held, failed


def attack_count_oracle(fed: Federation, target: int = 2) -> dict:
    """Deviating server: bisect ``max-examples`` until the target client refuses to train;
    the largest bound it accepts would be its e-mail count. Each probe is a new run (a
    server may start as many as it likes), so no run's parameters are changed."""
    node = fed.arena().nodes[target]
    refusals = 0

    def accepted_at(bound: int) -> bool:
        nonlocal refusals
        arena = fed.arena()
        roster, _ = arena.train(1, fed.weights, fed.train_config, [node], max_examples=bound)
        refusals += node not in roster
        return node in roster

    count, held, failed = _bisect(accepted_at, 1 << 16)
    found = [f"node {node}: {count} e-mails"] if refusals else []
    return _result(found, held + failed, requests=held + failed, refusals=refusals)


# ------------------------------------------- 3c. one round, parameters split
# The codec split: Bob's clip gives his values the whole slot, the others' clip is one
# fixed-point step; both give 2 Q T = 2^21, so slots, ciphertexts and masks line up.
SPLIT_TARGET_CODEC = {"clip": 2.0, "max-examples": 1}
SPLIT_OTHERS_CODEC = {"clip": 2.0**-FRAC_BITS, "max-examples": 2**20}
SPLIT_LR = 1.0  # the same for everyone: Bob's one e-mail then moves his words by 0.25


def _split_pass(fed: Federation, arena: Arena, config: dict, split: Split) -> list[int] | None:
    """Training with ``split`` parameters, then an honest-looking pass over everyone with Bob
    as the root, and every correction: the decrypted total, or ``None`` if refused."""
    roster, _ = arena.train(1, fed.weights, config, split=split)
    if len(roster) < CLIENTS:
        return None
    return arena.unmasked_total(1, roster, [n for n in arena.nodes if n != BOB_NODE] + [BOB_NODE])


def _rejected_envelopes(arena: Arena) -> int:
    return sum(m.has_error() and m.error.code == CODE_BAD_ENVELOPE for m in arena.messages)


def attack_codec_split(fed: Federation) -> dict:
    """Deviating server, alone, in one ordinary-looking round: Bob gets ``clip`` 2 and
    ``max-examples`` 1, the others ``clip`` 2^-19 and ``max-examples`` 2^20. The slots line
    up, so the masks cancel; but every other client's value is one fixed-point step at most,
    and the total is Bob's update plus at most the others' e-mail count in steps."""
    arena = fed.arena()
    split: Split = {
        node: (SPLIT_TARGET_CODEC if node == BOB_NODE else SPLIT_OTHERS_CODEC, {})
        for node in arena.nodes
    }
    total = _split_pass(fed, arena, {**fed.train_config, "lr": SPLIT_LR}, split)
    recovered: list[str] = []
    if total is not None:
        layout = CodecParams(
            arena.n.bit_length(), len(fed.data.vocabulary), **_codec_args(SPLIT_TARGET_CODEC)
        )
        slots = unpack(total, layout)
        others_examples = slots[1] - 1  # Bob's weight is capped at his max-examples, 1
        offset = layout.q_max + others_examples  # each other's offset is its count x Q = 1
        noise = others_examples  # each other's value is at most 1 step per e-mail
        recovered = [
            fed.data.vocabulary.words[i]
            for i, slot in enumerate(slots[HEADER_SLOTS:])
            if abs(slot - offset) > noise
        ]
    return _result(recovered, arena, rejected_envelopes=_rejected_envelopes(arena))


def _codec_args(codec: dict) -> dict:
    return {"clip": codec["clip"], "max_examples": codec["max-examples"]}


def _dp_round() -> DpSettings:
    """The DP settings of the demo's DP columns: epsilon ``DP_EPSILON`` for one round."""
    return DpSettings(DP_CLIP, noise_multiplier_for(DP_EPSILON, 1, DEFAULT_DELTA), CLIENTS)


def attack_dp_shrink(fed: Federation) -> dict:
    """Deviating server, alone, under DP: every client but Bob gets the smallest ``dp-clip``
    its checks accept (a few fixed-point steps), which shrinks its update and its noise share
    to almost nothing, so the "noisy sum" is Bob's clipped update with his own share only:
    noise of std ``z C / sqrt(m)``, not the promised ``z C``."""
    dp = _dp_round()
    arena = fed.arena()
    config = {**fed.train_config, **dp.train_config()}
    shrunk = {"dp-clip": smallest_dp_clip(dp, len(fed.data.vocabulary))}
    split: Split = {node: ({}, shrunk) for node in arena.nodes if node != BOB_NODE}
    roster, _ = arena.train(1, fed.weights, config, clip=dp.value_bound, split=split)
    total = None
    if len(roster) == CLIENTS:
        order = [n for n in arena.nodes if n != BOB_NODE] + [BOB_NODE]
        total = arena.unmasked_total(1, roster, order)
    result = _result(
        [], arena, promised_noise_std=dp.sum_std, rejected_envelopes=_rejected_envelopes(arena)
    )
    if total is not None:
        assert arena.round_state is not None
        summed = decode(total, CLIENTS, arena.round_state.codec, one_example_each=True)
        bob_new, _, _ = fed.bob.fit([fed.weights], config)
        bob = clip_l2((bob_new[0] - fed.weights).ravel(), dp.update_bound(fed.weights.size))
        result["noise_std"] = float(np.std(summed.mean_delta * CLIENTS - bob))
        if result["noise_std"] < dp.sum_std:
            result["recovered"] = [
                f"node {BOB_NODE}: its update under noise of std {result['noise_std']:.3g} "
                f"(promised >= {dp.sum_std:.3g})"
            ]
    return result


def smallest_dp_clip(dp: DpSettings, num_weights: int) -> float:
    """The smallest ``dp-clip`` a client accepts at ``dp``'s noise multiplier and ``m``
    (``DpSettings.check_grid``): shares of two grid steps, twice the rounding slack."""
    share_floor = MIN_SHARE_STEPS * 2.0**-FRAC_BITS * math.sqrt(dp.min_clients)
    return 1.01 * max(2 * rounding_slack(num_weights), share_floor / dp.noise_multiplier)


def straddling_codec(n: int, count: int, num_weights: int) -> CodecParams | None:
    """A codec that claims more key bits than ``n`` has, so that a plaintext's top slot
    straddles ``n``: a client whose untouched weights encode as ``n_i Q`` then has a
    plaintext ``>= n``, and fails to encrypt, if and only if ``n_i >= count``.

    The top slot of a plaintext starts at bit ``x = (p - 1) * slot_bits``; with
    ``Q = n / (2^x (count - 1/2))`` it holds ``n_i Q`` against a threshold of
    ``n / 2^x``. Searched over slots per plaintext and slot widths, within the node
    bounds a client applies (``clip <= 2^16``, ``max-examples <= 2^20``); ``None`` if no
    layout fits.
    """
    for per in range(2, num_weights + HEADER_SLOTS + 1):  # one full plaintext at least
        for slot_bits in range(20, 64):
            scale = 2 ** ((per - 1) * slot_bits) * (2 * count - 1)
            q = (2 * n + scale // 2) // scale
            # Q far above a tiny update's q (a step or two), and clip = Q / 2^19 <= 2^16.
            if not 2**15 <= q <= 2**35:
                continue
            examples = -(-(2 ** (slot_bits - 2)) // (2 * q))  # 2 Q T just reaches slot_bits
            if not 2 * count <= examples <= 2**20:
                continue
            codec = CodecParams(
                per * slot_bits + 1, num_weights, clip=q / 2**FRAC_BITS, max_examples=examples
            )
            if (codec.slots_per_plaintext, codec.slot_bits, codec.q_max) == (per, slot_bits, q):
                return codec
    return None


RANGE_LR = 1e-6  # the same for everyone: an update of at most one fixed-point step
RANGE_MAX_COUNT = 1 << 12  # the demo's shards hold fewer e-mails


def attack_range_oracle(fed: Federation, target: int = 2) -> dict:
    """Deviating server, alone: claim more key bits than the key has, so that a plaintext's
    top slot straddles ``n``; encryption then fails for large values only, and the target's
    error code says whether its e-mail count reaches the bound probed. Bisected, one new
    run per probe, it gives the count."""
    node = fed.arena().nodes[target]
    config = {**fed.train_config, "lr": RANGE_LR}
    answers: list[bool] = []

    def below(count: int) -> bool:
        """Whether the node's e-mail count is below ``count``: it then encrypts."""
        codec = straddling_codec(fed.keypair[0].n, count, len(fed.data.vocabulary))
        if codec is None:
            raise LookupError(f"no straddling layout for {count} e-mails")
        arena = fed.arena()
        split: Split = {node: (codec.to_config(), {})}
        roster, _ = arena.train(1, fed.weights, config, [node], split=split)
        answers.append(node in roster)
        return answers[-1]

    try:
        count, _, _ = _bisect(lambda t: below(t + 1), RANGE_MAX_COUNT)
    except LookupError:  # the key and model leave no layout: the attack does not apply
        return _result([], len(answers), requests=len(answers), refusals=answers.count(False))
    # Every probe answered alike: the answers say nothing about the data.
    found = [f"node {node}: {count} e-mails"] if len(set(answers)) > 1 else []
    return _result(found, len(answers), requests=len(answers), refusals=answers.count(False))


# ----------------------------------------------------------- 4. colluder
def attack_colluder(fed: Federation) -> dict:
    """The server with one colluding client (Sue), who sits right after Bob:

    Sue opens her incoming running sum E(Bob) and hands it to the server,
    with her own pairwise mask with Bob removed; then she falsely blames
    Bob's envelope, hoping for a restart that shows the same sums again.
    """
    arena = fed.arena()
    roster, _ = arena.train(1, fed.weights, fed.train_config)
    alice, sue = [n for n in arena.nodes if n != BOB_NODE]
    sue_state = arena.grid.contexts[sue].state.config_records[CHAIN_KEY_STATE]
    sue_key = wire.read_bytes(sue_state, "key")
    bob_hop = arena.hop(BOB_NODE, 1, roster, next_id=sue)
    recovered: list[str] = []
    if not bob_hop.has_error():
        seen = arena.open_as_member(sue_key, bob_hop, 1, roster, 1)
        # Sue knows her seed with Bob: take her pairwise term out of what she saw.
        seed = masks.pairwise_seed(
            sue_key, sue, roster.keys[BOB_NODE], BOB_NODE, arena.grid.run.run_id, 1, arena.binding
        )
        sign = -1 if BOB_NODE < sue else 1
        term = [sign * v for v in masks.expand(seed, arena.n, len(seen))]
        recovered += arena.words_of_single_update(arena.decrypt(seen, term))
        recovered += arena.words_of_single_update(arena.decrypt(seen))  # in case nothing was masked
    # The false blame: an honest server skips the round; a deviating one restarts it.
    restart = arena.hop(BOB_NODE, 1, roster, out_step=3, next_id=alice)
    refused = ["restart-after-blame"] if restart.has_error() else []
    return _result(recovered, arena, refused=refused, colluders=1)


# ------------------------------------------------------------- 5. sybils
def attack_sybil(fed: Federation, authenticated: bool, workdir: Path) -> dict:
    """The server invents two members whose chain keys it holds, so that Bob's pairwise masks
    are all with itself; it opens Bob's envelope and asks him to unmask with the sybils as
    survivors. Without an authenticated roster Bob cannot tell; with one he refuses."""
    node_config: dict | list[dict] = fed.node_config
    if authenticated:
        node_config = _federation(workdir, fed.node_config)
    arena = fed.arena(node_config)
    roster, _ = arena.train(1, fed.weights, fed.train_config)
    sybils = {9001 + i: envelope.new_private_key() for i in range(2)}
    forged = Roster.of(
        {
            BOB_NODE: roster.keys[BOB_NODE],
            **{i: envelope.public_key_of(k) for i, k in sybils.items()},
        },
        {BOB_NODE: roster.names.get(BOB_NODE, ""), **{i: f"sybil-{i}" for i in sybils}},
        {BOB_NODE: roster.signatures.get(BOB_NODE, b"")},
    )
    first = min(sybils)
    bob_hop = arena.hop(BOB_NODE, 1, forged, next_id=first)
    recovered: list[str] = []
    if not bob_hop.has_error():
        seen = arena.open_as_member(sybils[first], bob_hop, 1, forged, 1)
        correction = arena.unmask(BOB_NODE, 1, forged, [BOB_NODE, *sybils])
        if not correction.has_error():
            terms = [arena.correction_of(correction)]
            for node, key in sybils.items():
                seed = masks.pairwise_seed(
                    key,
                    node,
                    forged.keys[BOB_NODE],
                    BOB_NODE,
                    arena.grid.run.run_id,
                    1,
                    arena.binding,
                )
                sign = -1 if BOB_NODE < node else 1
                terms.append([sign * v for v in masks.expand(seed, arena.n, len(seen))])
            recovered += arena.words_of_single_update(arena.decrypt(seen, *terms))
    return _result(
        recovered, arena, authenticated_roster=authenticated, refused=bob_hop.has_error()
    )


def _federation(workdir: Path, base: dict) -> list[dict]:
    """Per-node config of an authenticated federation of the demo's clients."""
    return [{**base, **entries} for entries in make_federation(workdir, CLIENTS)]


# ------------------------------------------------------ 6. DP weight claim
def attack_dp_claim(fed: Federation, check: bool = True) -> dict:
    """Under DP every client weighs 1. Mallory (Sue) encodes 15,000 e-mails instead: the mean
    would then be hers, and the noise on it 15,000 times smaller. The server refuses a total
    whose example count differs from its contributor count."""
    dp = _dp_round()
    strategy = fed.secure(clip=dp.value_bound, one_example_each=check)
    arena = fed.arena()
    messages = strategy.configure_train(
        1,
        ArrayRecord([fed.weights]),
        ConfigRecord({**fed.train_config, **dp.train_config()}),
        arena.grid,
    )
    replies = list(arena.grid.send_and_receive(list(messages)))
    mallory = arena.nodes[-1]
    context = arena.grid.contexts[mallory]
    honest: RoundState = load_round_state(context, 1)
    cheat, _ = contribute(
        1,
        np.full(honest.params.num_weights, DP_CLIP / 10),
        CLAIMED_EXAMPLES,
        RoundParams(honest.n, honest.params, dp),
        ClientPolicy(),
    )
    cheat.binding = honest.binding  # her own state: she keeps the round's binding
    save_round_state(context, cheat)
    arrays, metrics = strategy.aggregate_train(1, replies)
    return _result(
        [],
        len(replies),
        accepted=arrays is not None,
        examples_claimed=CLAIMED_EXAMPLES,
        contributors=wire.read_int(metrics, "contributors") if metrics else 0,
    )


# ---------------------------------------------------------- honest rounds
def attack_honest_rounds(fed: Federation) -> tuple[dict, dict]:
    """The honest secure round and the same with DP: every reply inspected; what the sum shows."""
    strategy = fed.secure()
    arrays, grid = fed.run(strategy)
    secure = _inspect_every_reply(
        Arena(grid, fed.keypair, fed.data, list(grid.received), strategy.state)
    )
    secure.update(
        key_bits=fed.keypair[0].n.bit_length(), **_aggregate_view(arrays[0] - fed.weights, fed)
    )
    dp = _dp_round()
    dp_strategy = fed.secure(clip=dp.value_bound, one_example_each=True)
    dp_arrays, dp_grid = fed.run(
        dp_strategy, train_config={**fed.train_config, **dp.train_config()}
    )
    dp_view = _inspect_every_reply(
        Arena(dp_grid, fed.keypair, fed.data, list(dp_grid.received), dp_strategy.state)
    )
    dp_view.update(
        epsilon=dp.epsilon(1),
        noise_multiplier=dp.noise_multiplier,
        clip=dp.clip,
        neighbouring="replace-one",
        **_aggregate_view(dp_arrays[0] - fed.weights, fed),
    )
    return secure, dp_view


def _inspect_every_reply(arena: Arena) -> dict:
    """Any bytes in any reply that parse as ciphertexts and decrypt to one client's update."""
    recovered: list[str] = []
    width = paillier_math.ciphertext_width(arena.n)
    for msg in arena.messages:
        for record in [] if msg.has_error() else msg.content.config_records.values():
            for value in record.values():
                if isinstance(value, bytes) and value and len(value) % width == 0:
                    try:
                        cts = paillier_math.from_bytes(
                            arena.n, value, len(value) // width, "curious server"
                        )
                    except SecureAggregationError:
                        continue  # sealed bytes, not ciphertexts
                    recovered += arena.words_of_single_update(arena.decrypt(cts))
    return _result(recovered, arena)


def _aggregate_view(aggregate: np.ndarray, fed: Federation) -> dict[str, int]:
    """What the server sees in a decrypted sum: how many words moved, whether Bob's stand out."""
    largest = np.argsort(-np.abs(aggregate.ravel()))[:SHORTLIST]
    bob = {fed.data.vocabulary.index[w] for w in fed.scenario.words}
    return {
        "aggregate_changed_words": int((aggregate != 0).sum()),
        f"bob_words_in_top_{SHORTLIST}": len(bob & set(largest.tolist())),
    }


ATTACKS: dict[str, Callable[[Federation], dict]] = {
    "plain": attack_plain,
    "metrics": attack_metrics,
    "late_reply": attack_late_reply,
    "deviating_server": attack_deviating,
    "retrain_difference": attack_retrain,
    "count_oracle": attack_count_oracle,
    "codec_split": attack_codec_split,
    "dp_shrink": attack_dp_shrink,
    "range_oracle": attack_range_oracle,
    "colluder": attack_colluder,
    "dp_example_claim": attack_dp_claim,
}


def run_attack(
    key_bits: int = 2048,
    insecure_demo_key: bool = False,
    seed: int = 0,
    scenario: Scenario | None = None,
    progress: Callable[[str], None] = lambda s: None,
) -> dict:
    """Every attack against Bob, one column each; ``plain`` is the baseline that leaks."""
    scenario = scenario or Scenario(
        attack_config(seed), key_bits=key_bits, insecure_demo_key=insecure_demo_key
    )
    fed = Federation(scenario)
    result: dict = {"corpus": fed.data.corpus, "bob_email": scenario.bob_email, "clients": CLIENTS}
    for name, attack in ATTACKS.items():
        progress(name)
        result[name] = attack(fed)
    progress("sybil")
    with tempfile.TemporaryDirectory() as workdir:
        result["sybil"] = attack_sybil(fed, authenticated=True, workdir=Path(workdir))
        result["sybil"]["without_authenticated_roster"] = attack_sybil(fed, False, Path(workdir))[
            "recovered"
        ]
    progress("honest rounds")
    result["paillier"], result["paillier_dp"] = attack_honest_rounds(fed)
    return result
