"""The book's attack: Bob's words leak under plain FedAvg, not under the Paillier chain."""

from fl_app.attack import BOB_EMAIL, run_attack
from fl_app.cli import main


def test_plain_leaks_exactly_bobs_five_words_and_paillier_leaks_none():
    result = run_attack()
    assert result["plain"]["recovered"] == sorted(BOB_EMAIL.split())
    assert result["paillier"]["recovered"] == []
    # The server did look: 3 train replies and 3 chain hops, and the sum it
    # decrypted changed thousands of words, none of them attributable to Bob.
    assert result["paillier"]["messages_inspected"] == 6
    assert result["paillier"]["aggregate_changed_words"] > 1000
    assert result["paillier"]["key_bits"] == 2048
    # The DP column: the decrypted sum is noisy in every word, and epsilon is within budget.
    dp = result["paillier_dp"]
    assert dp["recovered"] == [] and dp["epsilon"] <= 8.0
    assert dp["aggregate_changed_words"] > result["paillier"]["aggregate_changed_words"]


def test_small_keys_are_refused_on_the_command_line(capsys):
    assert main(["attack", "--key-bits", "512", "--json"]) == 2
    assert "minimum is 2048" in capsys.readouterr().out
