"""Student ids are data: they name a folder under OUT and a link in report.html only through this module, and they
are shown (HTML, CSV, terminal) with what a reader cannot see marked.

An id comes from a file name (``gradebook.csv.py``, ``...py``, ``javascript:alert(1).py``) or an nbgrader folder, so
it may be anything a file system allows. A plain id (letters, digits, ``_ . @ + -``, starting with a letter or digit,
at most 100 characters, in Unicode's NFC form, not ending in a dot and not named like a file the grader writes in OUT)
is its own folder name, as before. Any other id gets a readable slug, ``~``, and the id itself in lower-case base32
(its UTF-8 bytes): a name no plain id has (no plain id holds a ``~``), from which the id can be read back, so two ids
never share a folder, by construction. Only an id too long for a folder name (over about 100 bytes of UTF-8) gets its
full SHA-256 instead (``slug~~HEX``), and a folder records whose it is (``classroom.saved.student_folder`` resolves a
clash rather than overwriting). Folders named by the old rule (``slug~`` and 8 hex digits of SHA-256, which two ids can
share) are still found: ``legacy_folder_name``. Written here because the rule depends on what OUT holds;
``werkzeug.utils.secure_filename`` and ``pathvalidate`` drop characters and would merge ids.

Ids that look alike (``é`` composed and decomposed, Latin ``a`` and Cyrillic ``а``) are told apart by ``lookalikes``:
the skeleton of Unicode's UTS #39, built on the confusables data that ``confusable_homoglyphs`` ships (that library
answers "is this string confusable", not "which two strings look the same", so the grouping is ours).
"""

from __future__ import annotations

import base64
import functools
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


MAX_FOLDER_NAME = 200  # bytes; file systems allow 255, and the grader's temporary files add a few


def _slug(student: str) -> str:
    slug = re.sub(r"[^\w@+-]+", "_", unicodedata.normalize("NFKC", student), flags=re.ASCII).strip("_-")[:40]
    return slug or "student"


def _bytes(student: str) -> bytes:
    return student.encode("utf-8", "surrogatepass")  # a lone surrogate (a file name in other bytes) included


def folder_name(student: str) -> str:
    """The folder under OUT that holds this student's results: one per id, never shared (see the module
    docstring)."""
    if is_plain(student):
        return student
    encoded = base64.b32encode(_bytes(student)).decode("ascii").rstrip("=").lower()
    name = f"{_slug(student)}~{encoded}"
    if len(name) <= MAX_FOLDER_NAME:
        return name
    return f"{_slug(student)}~~{hashlib.sha256(_bytes(student)).hexdigest()}"


def legacy_folder_name(student: str) -> str:
    """The folder an earlier version of the grader gave this id (8 hex digits of a hash: two ids can share it)."""
    if is_plain(student):
        return student
    return f"{_slug(student)}~{hashlib.sha256(_bytes(student)).hexdigest()[:8]}"


def feedback_link(student: str, page: str, folder: str | None = None) -> str:
    """A relative URL to the student's page, from OUT: never a scheme (``javascript:``), never outside OUT.
    ``folder``: the student's folder when it is not ``folder_name(student)`` (a clash resolved)."""
    return f"./{quote(folder or folder_name(student))}/{quote(page)}"


# Printable by Python's rule, yet blank on the screen: fillers and blank letters a name can hide in.
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e\u034f\u17b4\u17b5\u2061\u2062\u2063\u2064")


def is_hidden(character: str) -> bool:
    """A character a reader cannot see or that changes how the rest reads: a control, a format character (the
    bidi overrides and isolates, zero-width spaces and joiners), a lone surrogate, a private-use or unassigned
    one, a space other than the plain one, or a blank letter."""
    if character == " ":
        return False
    return not character.isprintable() or character in BLANK_LETTERS or unicodedata.category(character) in (
        "Cf", "Cc", "Cs", "Co", "Cn", "Zs", "Zl", "Zp")


def hidden_characters(student: str) -> list[str]:
    """The hidden characters of an id (see is_hidden), each once, in order."""
    return list(dict.fromkeys(character for character in student if is_hidden(character)))


def marked(student: str) -> str:
    """The id with each hidden character written as ``<U+202E>``: what a CSV cell or a terminal shows."""
    return "".join(f"<U+{ord(character):04X}>" if is_hidden(character) else character for character in student)


def shown(student: str) -> str:
    """The id as a terminal may print it: an id with hidden characters (a right-to-left override, an escape
    sequence, a zero-width space) has each written as ``<U+XXXX>``, and is quoted so that its ends show."""
    if not hidden_characters(student):
        return student
    return repr(marked(student))


@functools.cache
def _confusable_prototypes() -> dict[str, str]:
    """Each confusable character to one representative of the characters it looks like (union-find over the
    confusables data of UTS #39 as confusable_homoglyphs ships it; the smallest code point of a class wins)."""
    from confusable_homoglyphs.confusables import confusables_data

    parent: dict[str, str] = {}

    def find(character: str) -> str:
        while parent.setdefault(character, character) != character:
            parent[character] = parent[parent[character]]
            character = parent[character]
        return character

    for character, homoglyphs in confusables_data.items():
        for glyph in homoglyphs:
            other = "".join(c for c in glyph["c"] if not is_hidden(c))  # the data wraps right-to-left ones in marks
            if len(character) == 1 and len(other) == 1:
                first, second = find(character), find(other)
                if first != second:
                    parent[max(first, second)] = min(first, second)
    return {character: find(character) for character in parent}


def skeleton(student: str) -> str:
    """What an id looks like (UTS #39's skeleton): decomposed, hidden characters dropped, each character replaced by
    the representative of those it is confusable with. Two ids with one skeleton look alike."""
    prototypes = _confusable_prototypes()
    text = unicodedata.normalize("NFD", "".join(c for c in student if not is_hidden(c)))
    return unicodedata.normalize("NFD", "".join(prototypes.get(c, c) for c in text))


def lookalikes(students) -> list[list[str]]:
    """Groups of two or more distinct ids that look alike (one skeleton), each sorted, the groups sorted."""
    groups: dict[str, set[str]] = {}
    for student in students:
        groups.setdefault(skeleton(student), set()).add(student)
    return sorted(sorted(group) for group in groups.values() if len(group) > 1)
