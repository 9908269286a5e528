"""The command line's own value types: a value no command can use is refused by argparse,
as one ``error:`` line, before anything is loaded or started.

Each converter raises ``argparse.ArgumentTypeError``, which the parser turns
into ``error: argument --NAME: <what was expected>`` and exit code 2.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from pathlib import Path

from strategies.identity import MAX_NAME_BYTES

# A bare key of TOML: what `fl-spam identity` prints as `<member> = "<key>"` reads back as it is.
_MEMBER_NAME = re.compile(r"[A-Za-z0-9_-]+")


def _number(text: str, kind: Callable[[str], int | float], what: str) -> int | float:
    """``kind(text)``; argparse's error, saying it is not ``what``, if it is no number."""
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def int_at_least(low: int) -> Callable[[str], int]:
    """A converter to ``int`` that refuses values below ``low``.

    Parameters
    ----------
    low : int
        The smallest value accepted.

    Returns
    -------
    Callable[[str], int]
        The converter, named for argparse's messages.
    """

    def convert(text: str) -> int:
        value = int(_number(text, int, "an integer"))
        if value < low:
            raise argparse.ArgumentTypeError(f"{value}: expected an integer >= {low}")
        return value

    convert.__name__ = f"integer >= {low}"
    return convert


def positive_seconds(text: str) -> float:
    """A finite number of seconds above 0 (a socket refuses the others, or never times out)."""
    value = float(_number(text, float, "a number"))
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text}: expected a number of seconds > 0")
    return value


def probability(text: str) -> float:
    """A number from 0 to 1 (a threshold outside that, or NaN, makes every verdict the same)."""
    value = float(_number(text, float, "a number"))
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise argparse.ArgumentTypeError(f"{text}: expected a probability from 0 to 1")
    return value


def png_path(text: str) -> str:
    """A path ending in ``.png``: checked before a plot is computed, not when it is saved."""
    if Path(text).suffix.lower() != ".png":
        raise argparse.ArgumentTypeError(f"{text}: expected a file name ending in .png")
    return text


def member_name(text: str) -> str:
    """A federation member's name as the federation file takes it unquoted: letters, digits,
    ``-`` and ``_``, at most ``MAX_NAME_BYTES`` bytes."""
    if not _MEMBER_NAME.fullmatch(text) or len(text) > MAX_NAME_BYTES:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected letters, digits, '-' and '_' only, at most "
            f"{MAX_NAME_BYTES} of them (e.g. alice)"
        )
    return text
