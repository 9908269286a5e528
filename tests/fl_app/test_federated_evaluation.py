"""Plain rounds' federated evaluation: the slice reports summed, and one odd report left out."""

import numpy as np
from flwr.app import MetricRecord, RecordDict

from clients.spam_metrics import slice_report
from fl_app.server_app import sum_slice_reports


def report(num_examples, seed: int) -> RecordDict:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 40)
    scores = np.clip(labels * 0.6 + rng.random(40) * 0.5, 0, 1)
    return RecordDict(
        {"metrics": MetricRecord({**slice_report(scores, labels), "num-examples": num_examples})}
    )


def test_an_odd_weight_from_one_client_leaves_its_report_out_and_the_run_goes_on():
    """Review F5: a float or list ``num-examples`` passes Flower's checks; it must not end
    the run (as a ProtocolError raised out of the strategy did)."""
    summed = sum_slice_reports([report(40, 0), report(40.0, 1), report([1, 2], 2)], "num-examples")
    both = sum_slice_reports([report(40, 0), report(40, 1)], "num-examples")
    assert summed["num-examples"] == 80 and dict(summed) == dict(both)
