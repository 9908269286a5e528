"""The text a reader sees in an HTML mail body, found in time linear in the body's length.

The standard library's ``html.parser`` scans the rest of the document again
for every ``<`` that opens something it cannot finish (``<a b`` without
``>``, ``<!--`` without ``-->``): 300 KB of them took many minutes. Here each
tag, comment or script is found by one forward match from where it starts,
and one that never ends takes the rest of the document with it, as a browser
reads it (HTML5's end of file in a tag or comment), so every character is
read a bounded number of times. The tag pattern is possessive (``*+``,
``++``): a match that fails gives nothing back to be tried again.

For well-formed mail the text is ``html.parser``'s: the same tags break lines,
the same elements are hidden, ``/>`` starts and ends a tag, and script and
style end where ``html.parser`` ends them.
"""

from __future__ import annotations

import re
import string
from html import unescape

# Elements whose content no reader sees.
HIDDEN = frozenset({"script", "style", "template"})
# Tags that end a line: without a break, "<td>free</td><td>cash</td>" would read "freecash".
BREAKS = frozenset(
    "address article aside blockquote br dd div dl dt footer form h1 h2 h3 h4 h5 h6 "
    "header hr li main nav ol p pre section table td th title tr ul".split()
)
# Elements whose content is raw text up to their end tag, never markup (as html.parser has it).
_RAW_TEXT = frozenset({"script", "style"})
# A "<" that opens markup; any other "<" is text (so is a "</" that ends the document).
_MARKUP = re.compile(r"<(?:[a-zA-Z!?]|/.)", re.DOTALL)
_LETTERS = frozenset(string.ascii_letters)
# A start or end tag. Quoted values may hold ">"; a value's opening quote
# without its closing one leaves the tag unmatched: unterminated.
_TAG = re.compile(
    r"""
    </?+
    (?P<name>[a-zA-Z][^\t\n\f\r />]*+)
    (?:
        [^>=/]++                                  # attribute names, blanks
      | /(?!>)                                    # a '/' that does not close the tag
      | =[\t\n\f\r ]*+
        (?:"[^"]*+"|'[^']*+'|[^\t\n\f\r >"'][^\t\n\f\r >]*+|(?=>))   # its value
    )*+
    (?P<closed>/?)>
    """,
    re.VERBOSE,
)
# Where a comment ends; "<!-->" and "<!--->" are whole (empty) comments in HTML5.
_COMMENT_END = re.compile(r"--!?>")
_EMPTY_COMMENTS = ("<!-->", "<!--->")
# The end tag of each raw-text element, as html.parser finds it.
_RAW_TEXT_ENDS = {name: re.compile(rf"</\s*+{name}\s*+>", re.IGNORECASE) for name in _RAW_TEXT}


class _Reader:
    """One pass over an HTML document, collecting what a reader sees."""

    def __init__(self, html: str) -> None:
        self.html = html
        self.chunks: list[str] = []
        self.hidden = 0

    def read(self) -> str:
        """The visible text of the whole document."""
        position = 0
        while found := _MARKUP.search(self.html, position):
            self._text(position, found.start())
            position = self._markup(found.start())
        self._text(position, len(self.html))
        return "".join(self.chunks)

    def _text(self, start: int, end: int) -> None:
        if start < end and not self.hidden:
            self.chunks.append(unescape(self.html[start:end]))

    def _tag(self, name: str, end_tag: bool) -> None:
        if name in HIDDEN:
            self.hidden = max(0, self.hidden - 1) if end_tag else self.hidden + 1
        elif name in BREAKS:
            self.chunks.append("\n")

    def _markup(self, at: int) -> int:
        """Read the markup that starts at ``at``; return where the text after it starts."""
        html = self.html
        if html.startswith("<!--", at):
            if html.startswith(_EMPTY_COMMENTS, at):
                return html.index(">", at) + 1
            return self._through(_COMMENT_END.search(html, at + 4))
        if html.startswith(("<!", "<?"), at):
            return self._bogus_comment(at)
        end_tag = html[at + 1] == "/"
        if html[at + 1 + end_tag] not in _LETTERS:  # "</>" is nothing, "</ x>" a comment
            return at + 3 if html.startswith("</>", at) else self._bogus_comment(at)
        tag = _TAG.match(html, at)
        if tag is None:
            return len(html)  # a tag that never ends: a browser shows nothing after it
        name = tag["name"].lower()
        self._tag(name, end_tag)
        if end_tag:
            return tag.end()
        if tag["closed"]:
            self._tag(name, True)  # "<br/>": started and ended at once
            return tag.end()
        if name in _RAW_TEXT:
            # Its content is hidden whatever it holds; its end tag undoes the count.
            self._tag(name, True)
            return self._through(_RAW_TEXT_ENDS[name].search(html, tag.end()))
        return tag.end()

    def _bogus_comment(self, at: int) -> int:
        """``<!DOCTYPE ...>``, ``<?xml ...?>``, ``<![if ...]>``: all up to the first ``>``."""
        close = self.html.find(">", at + 2)
        return len(self.html) if close < 0 else close + 1

    def _through(self, found: re.Match[str] | None) -> int:
        """After ``found``, the end of a construct; without it, the construct runs to the end."""
        return len(self.html) if found is None else found.end()


def html_text(html: str) -> str:
    """The visible text of an HTML document or fragment, in time linear in its length.

    Drops tags, comments, declarations and the content of ``<script>``,
    ``<style>`` and ``<template>``; resolves entities. A tag or comment that
    never ends hides the rest of the document, as in a browser.

    Parameters
    ----------
    html : str
        HTML source, already decoded.

    Returns
    -------
    str
        The text, with a line break where a block element starts or ends.
    """
    return _Reader(html).read()
