"""The in-memory corpus every loader returns."""

from __future__ import annotations

from dataclasses import dataclass


class CorpusError(ValueError):
    """A corpus could not be loaded: the message names the file and what was expected."""


@dataclass(frozen=True)
class Corpus:
    """Labelled e-mails, each as its unique words in order of first appearance.

    Parameters
    ----------
    name : str
        Human-readable name that says where the e-mails come from, e.g.
        ``"synthetic (seed 0)"`` or ``"enron: /data/enron"``.
    synthetic : bool
        True when the e-mails were generated, not written by people. Every
        output derived from such a corpus must say so.
    spam, ham : list[list[str]]
        The e-mails of each class.
    """

    name: str
    synthetic: bool
    spam: list[list[str]]
    ham: list[list[str]]

    def __post_init__(self) -> None:
        for label, emails in (("spam", self.spam), ("ham", self.ham)):
            if not emails:
                raise CorpusError(
                    f"Corpus '{self.name}' has no {label} e-mails; "
                    "expected at least one e-mail of each class."
                )

    @property
    def label(self) -> str:
        """Name to print beside every figure, flagged when synthetic."""
        return f"{self.name} [SYNTHETIC]" if self.synthetic else self.name
