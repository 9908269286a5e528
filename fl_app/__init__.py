"""Flower wiring: ServerApp, ClientApp, run-config, the fl-spam CLI."""
