"""An HTML body's visible text: what a reader sees, in time linear in the body's length."""

import signal
from contextlib import contextmanager

import pytest

from data.html_text import html_text

# 300 KB of each: markup the standard library's html.parser scanned to the end of the
# document once per "<" it could not finish; each took it from half a minute to many.
HOSTILE = {
    "unclosed start tags": "<a " * 100_000,
    "unclosed comments": "<!--" * 75_000,
    "unclosed declarations": "<![" * 100_000,
    "text with a tag opener": "a<b" * 100_000,
    "tags inside a textarea": "<textarea>" + "<x" * 150_000,
    # And what a linear reader must do as fast: odd openers, many small whole constructs.
    "unclosed end tags": "</ " * 100_000,
    "lone openers": "<" * 300_000,
    "many tags": "<p>x</p>" * 37_500,
    "many comments": "<!---->" * 42_000,
    "one long tag": "<a " + "b='c' " * 50_000 + ">",
    "many entities": "&amp;" * 60_000,
}
# Generous: each takes well under 0.2 s here, and took minutes before.
WORK_BOUND_S = 10


@contextmanager
def at_most(seconds: int):
    """Fail the test with TimeoutError if the block runs longer than ``seconds``."""

    def expire(signum, frame):
        raise TimeoutError(f"still converting after {seconds} s: not linear time")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_html_of_300_kb_is_read_in_linear_time(case):
    with at_most(WORK_BOUND_S):
        text = html_text(HOSTILE[case])
    assert isinstance(text, str) and len(text) <= len(HOSTILE[case])


def test_normal_mail_markup_reads_as_before():
    outlook = (
        '<html xmlns:o="urn:schemas-microsoft-com:office:office"><head><!--[if gte mso 9]><xml>'
        "<o:OfficeDocumentSettings></o:OfficeDocumentSettings></xml><![endif]--><style><!-- "
        "p.MsoNormal {margin:0cm;} --></style></head><body><div class=WordSection1>"
        "<p class=MsoNormal>Hi Bob,<o:p></o:p></p><p class=MsoNormal>See you at <b>noon</b>."
        "</p></div></body></html>"
    )
    assert html_text(outlook).split() == ["Hi", "Bob,", "See", "you", "at", "noon."]
    assert html_text("<P>Cheap<BR>pills</P><TABLE><TR><TD>50%</TD><TD>off</TD>").split() == [
        "Cheap",
        "pills",
        "50%",
        "off",
    ]
    assert html_text("Price &lt;10 &amp; a < b <3 <> x") == "Price <10 & a < b <3 <> x"
    assert html_text("<!DOCTYPE html><?xml version='1.0'?><p>x</p>") == "\nx\n"


def test_quoted_values_may_hold_markup_and_scripts_are_raw_text():
    assert html_text("<img alt='buy > now'><p title=\"a>b\">text</p>") == "\ntext\n"
    assert html_text("<script>if (a < b) document.write('<p>x</p>');</script>shown") == "shown"
    assert html_text("<style>p > a { }</style><template>hidden</template>shown") == "shown"
    assert html_text("<br/>a<script/>b") == "\n\nab"  # "/>" starts and ends it, as before


def test_markup_that_never_ends_hides_the_rest_as_a_browser_does():
    assert html_text("shown<a href='x>hidden") == "shown"
    assert html_text("shown<!-- hidden") == "shown"
    assert html_text("shown<script>hidden") == "shown"
    assert html_text("shown<!-->also shown<!--->too") == "shownalso showntoo"
    assert html_text("a</") == "a</"
