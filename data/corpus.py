"""The in-memory corpus every loader returns."""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


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

    Raises
    ------
    CorpusError
        If a class has no e-mail, or none of the e-mails of a class has a word
        (a file read in the wrong format or encoding). When only some e-mails
        have no words, a warning says how many: the model sees nothing of them.
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
                    f"expected at least one e-mail of each class — add {label} e-mails"
                )
        self._check_words()

    def _check_words(self) -> None:
        """Refuse a class whose e-mails have no words, warn when some e-mails have none.

        Every loader builds its ``Corpus`` once, so this runs once per corpus of
        any kind. An e-mail with no words gives the model nothing but its bias:
        a class of them trains to a coin toss, which must not pass unsaid.
        """
        wordless = {
            "spam": sum(1 for email in self.spam if not email),
            "ham": sum(1 for email in self.ham if not email),
        }
        sizes = {"spam": len(self.spam), "ham": len(self.ham)}
        total, empty = sum(sizes.values()), sum(wordless.values())
        fix = "check the file's format/encoding"
        if empty == total:
            raise CorpusError(
                f"Corpus '{self.name}': none of its {total} e-mails has a word; "
                f"expected e-mail text — {fix}"
            )
        for label, n in wordless.items():
            if n == sizes[label]:
                raise CorpusError(
                    f"Corpus '{self.name}': none of its {n} {label} e-mails has a word; "
                    f"expected e-mail text for both classes — {fix}"
                )
        if empty:
            share = empty / total
            log.warning(
                "Corpus '%s': %d of %d e-mails (%s) have no words: they cannot be classified "
                "(%d spam, %d ham) — %s, or remove them",
                self.name,
                empty,
                total,
                f"{share:.0%}" if share >= 0.01 else "<1%",
                wordless["spam"],
                wordless["ham"],
                fix,
            )

    @property
    def label(self) -> str:
        """Name to print beside every figure, flagged when synthetic."""
        return f"{self.name} [SYNTHETIC]" if self.synthetic else self.name
