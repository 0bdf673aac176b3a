"""The pieces both pages share: one stylesheet, the page around a body, and the grader's paths taken out.

HTML is written with the standard library's ``html.escape``: a template engine would be one more dependency for
two small pages."""

from __future__ import annotations

import html
import re
import unicodedata

from autograder.course.assignments import PROJECT_ROOT
from autograder.submission.names import is_hidden, marked

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 60rem;
       padding: 0 1rem; color: #1f2328; line-height: 1.45; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
.score { font-size: 2.4rem; font-weight: 700; margin: .5rem 0; }
.status { display: inline-block; padding: .1rem .6rem; border-radius: 1rem; background: #eef; font-size: .9rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #d0d7de; vertical-align: top; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
tr.full td:first-child { border-left: 4px solid #1a7f37; } tr.partial td:first-child { border-left: 4px solid #bf8700; }
tr.none td:first-child { border-left: 4px solid #cf222e; }
pre { background: #f6f8fa; padding: .6rem; overflow-x: auto; white-space: pre-wrap; font-size: .85rem; }
.failure { border: 1px solid #d0d7de; border-radius: .4rem; padding: .2rem .8rem; margin: .8rem 0; }
.muted { color: #59636e; font-size: .9rem; } img { max-width: 100%; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: .6rem; } .side pre { font-size: .75rem; }
mark { background: #ffd8a8; } mark.hidden { font-size: .75em; font-family: monospace; background: #ffc9c9; }
.lookalike { border-bottom: 2px dotted #cf222e; }
"""


def scrub(text: str) -> str:
    """Remove the grader's own paths from a message (a student must not learn where the suites live)."""
    return text.replace(str(PROJECT_ROOT) + "/", "").replace(str(PROJECT_ROOT), "")


def student_html(student: str, *, looks_like: list[str] | None = None) -> str:
    """A student id for a page: escaped, isolated from the text around it (``<bdi>``), and each character a
    reader cannot see (a right-to-left override, a zero-width space; names.is_hidden) shown as a mark that names
    it. ``looks_like``: the other ids that look the same (names.lookalikes), said beside it."""
    text = "".join(_hidden_mark(c) if is_hidden(c) else html.escape(c) for c in student)
    if not looks_like:  # isolated when it could reorder the text around it (right-to-left letters, a mark)
        isolate = text != html.escape(student) or any(unicodedata.bidirectional(c) in ("R", "AL") for c in student)
        return f"<bdi>{text}</bdi>" if isolate else text
    others = ", ".join(marked(other) for other in looks_like)
    return (f"<bdi class=\"lookalike\" title=\"looks like {html.escape(others)}\">{text}</bdi>"
            f" <span class=\"muted\">(looks like {html.escape(others)})</span>")


def _hidden_mark(character: str) -> str:
    return f"<mark class=\"hidden\" title=\"a hidden character\">U+{ord(character):04X}</mark>"


_ASCII_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def mark_hidden(body: str) -> str:
    """Every format or control character of a page's text (a bidi override or isolate, a zero-width space, an
    escape; not a newline or tab) shown as a mark: none of them is ever the page's own markup, and in a file name,
    a message or an id they would make it read as something else."""
    if body.isascii():
        return _ASCII_CONTROLS.sub(lambda match: _hidden_mark(match.group()), body)
    return "".join(_hidden_mark(c) if (unicodedata.category(c) in ("Cf", "Cc") and c not in "\n\t\r") else c
                   for c in body)


def page(title: str, body: str) -> str:
    body = mark_hidden(body)
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(marked(title))}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")


