"""Mailboxes the data tests read, written with the standard library's ``mailbox``."""

import mailbox
from pathlib import Path


def write_mbox(path: Path, messages: list[bytes]) -> Path:
    """An mbox file at ``path`` holding ``messages`` in order; ``path``."""
    box = mailbox.mbox(path)
    for raw in messages:
        box.add(raw)
    box.close()
    return path
