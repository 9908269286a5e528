"""Secure aggregation for Flower: Paillier codec, sealed envelopes, the chain strategy."""
