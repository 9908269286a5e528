"""Flower clients: the numpy spam model and the NumPyClient that trains it."""
