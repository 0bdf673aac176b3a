"""Student ids are data: they name a folder under OUT and a link in report.html only through this module.

An id comes from a file name (``gradebook.csv.py``, ``...py``, ``javascript:alert(1).py``) or an nbgrader folder, so
it may be anything a file system allows. A plain id (letters, digits, ``_ . @ + -``, starting with a letter or digit,
at most 100 characters, in Unicode's NFC form, not ending in a dot and not named like a file the grader writes in OUT)
is its own folder name, as before; any other id gets a readable slug and a hash of the whole id, joined by ``~``,
which no plain id contains, so two ids never share a folder. Written here because the rule depends on what OUT
holds; ``werkzeug.utils.secure_filename`` and ``pathvalidate`` drop characters and would merge ids.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import quote

PLAIN_ID = re.compile(r"\w[\w.@+-]{0,99}")
# What the grader writes at OUT's top level (gradebook.csv/json, class.json, report.html, the charts, an export,
# their temporary files): an id named like one of them would collide with it.
WRITTEN_IN_OUT = re.compile(r".*\.(csv|json|html|png|tmp)", re.IGNORECASE)


def is_plain(student: str) -> bool:
    return (PLAIN_ID.fullmatch(student) is not None and unicodedata.normalize("NFC", student) == student
            and not student.endswith(".") and WRITTEN_IN_OUT.fullmatch(student) is None)


def folder_name(student: str) -> str:
    """The folder under OUT that holds this student's results (see the module docstring)."""
    if is_plain(student):
        return student
    slug = re.sub(r"[^\w@+-]+", "_", unicodedata.normalize("NFKC", student), flags=re.ASCII).strip("_-")[:40]
    return f"{slug or 'student'}~{hashlib.sha256(student.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


def feedback_link(student: str, page: str) -> str:
    """A relative URL to the student's page, from OUT: never a scheme (``javascript:``), never outside OUT."""
    return f"./{quote(folder_name(student))}/{quote(page)}"


def shown(student: str) -> str:
    """The id as a terminal may print it: an id with control or formatting characters (a right-to-left override,
    an escape sequence) is shown quoted, with them escaped."""
    if all(character.isprintable() for character in student):
        return student
    return ascii(student)
