"""Every file the grader writes goes through here: written whole or not at all, and CSV cells that a spreadsheet
cannot run.

A write goes to a temporary file with a unique name in the same folder, then replaces the target in one
``os.replace``: a reader (a TA's browser, a rerun, a second grader writing the same folder) never sees half a file,
and two writers never share a temporary file. Text is UTF-8 with lone surrogates escaped, so no text a student
put in a message can make a write fail.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate (``\\udcff``, from a student's message or a file name in bytes that are
    not UTF-8) written as its escape: text that every encoder, terminal, notebook and JSON reader takes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def write_text_atomic(path: str | Path, text: str, *, unchanged_ok: bool = False) -> Path:
    """Write ``text`` to ``path`` atomically (see the module docstring); ``unchanged_ok``: leave a file that
    already holds exactly this text as it is (a rerun then touches no one else's files)."""
    path = Path(path)
    data = clean_text(text).encode("utf-8")
    if unchanged_ok:
        try:
            if path.read_bytes() == data:
                return path
        except OSError:
            pass
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; these files are for people to read
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | Path, data) -> Path:
    """JSON, atomically. ``ensure_ascii`` keeps every character (a lone surrogate included) as an escape."""
    return write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=True))


def spreadsheet_safe(value):
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe, as OWASP recommends;
    numbers stay numbers, and the text stays readable."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv_atomic(path: str | Path, header: list[str], rows: list[list] | list[dict]) -> Path:
    """RFC 4180 CSV in UTF-8, formula-safe cells, atomically. ``rows``: lists in ``header``'s order, or dicts
    keyed by it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        cells = [row.get(name, "") for name in header] if isinstance(row, dict) else row
        writer.writerow([spreadsheet_safe(cell) for cell in cells])
    return write_text_atomic(path, buffer.getvalue())


def file_digest(path: str | Path) -> str:
    """The SHA-256 of a file's bytes: what a saved result was graded from."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
