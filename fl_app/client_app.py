"""Flower ClientApp: runs ``SpamClient`` for the messages the server sends."""

from __future__ import annotations

from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from clients.spam_client import SpamClient

from .config import RunConfig
from .dataset import make_client

app = ClientApp()


def _client(context: Context) -> SpamClient:
    cfg = RunConfig.from_mapping(context.run_config)
    if "partition-id" not in context.node_config:
        raise ValueError(
            "This SuperNode has no partition-id in its node config; start it with "
            "--node-config \"partition-id=<0..num-clients-1>\""
        )
    return make_client(cfg, int(context.node_config["partition-id"]))


@app.train()
def train(msg: Message, context: Context) -> Message:
    """Train on the local shard from the global weights; reply with the new weights."""
    client = _client(context)
    parameters = msg.content["arrays"].to_numpy_ndarrays()
    config = dict(msg.content["config"])
    weights, num_examples, metrics = client.fit(parameters, config)
    content = RecordDict(
        {
            "arrays": ArrayRecord(weights),
            "metrics": MetricRecord({"num-examples": num_examples, **metrics}),
        }
    )
    return Message(content, reply_to=msg)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    """Evaluate the global weights on this client's test slice."""
    client = _client(context)
    parameters = msg.content["arrays"].to_numpy_ndarrays()
    loss, num_examples, metrics = client.evaluate(parameters, dict(msg.content["config"]))
    content = RecordDict(
        {"metrics": MetricRecord({"num-examples": num_examples, "loss": loss, **metrics})}
    )
    return Message(content, reply_to=msg)
