"""Turn a notebook or script into the definitions the tests need, and list what was skipped.

Kept: function and class definitions, and the top-level imports and assignments
whose names those definitions use (followed transitively). Skipped: everything
else (training runs, plots, downloads, prints, imports nothing graded uses, such
as matplotlib or otter), shell lines (``!``) and magics (``%``).
A cell with a syntax error costs only the definitions inside it.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

DEFINITION_PATTERN = re.compile(r"^\s*(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)", re.MULTILINE)


class SubmissionError(ValueError):
    """The file cannot be read as a submission at all (corrupt, empty, wrong type)."""


@dataclass(frozen=True)
class Chunk:
    """One top-level statement to run in the worker. Padding keeps tracebacks' line numbers true."""

    label: str        # e.g. "cell 4" or "submission.py"
    code: str         # source, padded with newlines so that line numbers match the cell
    defines: tuple[str, ...]


@dataclass
class LoadedSubmission:
    path: str
    chunks: list[Chunk] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)   # human-readable, shown in feedback
    broken: dict[str, str] = field(default_factory=dict)  # name -> why its definition could not be used

    @property
    def defined(self) -> list[str]:
        return [name for chunk in self.chunks for name in chunk.defines]


def _cells(path: Path) -> list[tuple[str, str]]:
    """Return (label, source) pairs from a .ipynb (code cells only) or a .py file."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise SubmissionError(f"could not read {path.name}: {error.strerror}") from None
    if not raw.strip():
        raise SubmissionError(f"{path.name} is empty")
    if path.suffix == ".py":
        try:
            return [(path.name, raw.decode("utf-8"))]
        except UnicodeDecodeError:
            raise SubmissionError(f"{path.name} is not UTF-8 text") from None
    if path.suffix != ".ipynb":
        raise SubmissionError(f"{path.name}: expected a .ipynb notebook or a .py script")
    try:
        with warnings.catch_warnings():  # students' notebooks often lack cell ids; that is harmless here
            warnings.simplefilter("ignore")
            notebook = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except (UnicodeDecodeError, json.JSONDecodeError, nbformat.reader.NotJSONError) as error:
        raise SubmissionError(f"{path.name} is not a valid notebook (not JSON: {error})") from None
    except Exception as error:  # nbformat raises several types for malformed structure
        raise SubmissionError(f"{path.name} is not a valid notebook ({type(error).__name__}: {error})") from None
    cells = [(f"cell {number}", cell.get("source", "")) for number, cell in enumerate(notebook.get("cells", []), 1)
             if cell.get("cell_type") == "code"]
    if not cells:
        raise SubmissionError(f"{path.name} has no code cells")
    return cells


def _strip_ipython(label: str, source: str, skipped: list[str]) -> str:
    """Blank out shell lines and magics (keeping line numbers); a cell magic skips the whole cell."""
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        skipped.append(f"{label}: cell magic `{lines[0].strip()[:60]}` (whole cell skipped)")
        return ""
    kept = []
    for number, line in enumerate(lines, 1):
        stripped = line.lstrip()
        if stripped.startswith(("!", "%")):
            skipped.append(f"{label}, line {number}: `{stripped[:60]}` (shell command or magic)")
            kept.append("")
        else:
            kept.append(line)
    return "\n".join(kept)


def _loaded_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _assigned_names(node: ast.stmt) -> set[str]:
    """Names a top-level assignment or import binds (``import a.b`` binds ``a``)."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    targets = {ast.Assign: lambda s: s.targets, ast.AnnAssign: lambda s: [s.target],
               ast.AugAssign: lambda s: [s.target]}
    names = set()
    for target in targets.get(type(node), lambda s: [])(node):
        names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def _summary(statement: ast.stmt, source_lines: list[str]) -> str:
    text = source_lines[statement.lineno - 1].strip()
    return text if len(text) <= 60 else text[:57] + "..."


def load_submission(path: str | Path, keep_names: tuple[str, ...] = ()) -> LoadedSubmission:
    """Parse ``path`` into the chunks the worker should run. Raises SubmissionError if unreadable.

    ``keep_names``: top-level names the tests read directly (e.g. SOBEL_X), kept even if no function uses them.
    """
    path = Path(path)
    loaded = LoadedSubmission(path=str(path))
    statements = []  # (label, statement, cell source lines)
    for label, source in _cells(path):
        source = _strip_ipython(label, source, loaded.skipped)
        try:
            tree = ast.parse(source)
        except SyntaxError as error:
            names = DEFINITION_PATTERN.findall(source)
            where = f"{label} has a syntax error on line {error.lineno}: {error.msg}"
            loaded.skipped.append(where + (f" (lost: {', '.join(names)})" if names else ""))
            for name in names:
                loaded.broken[name] = where
            continue
        lines = source.splitlines()
        statements.extend((label, statement, lines) for statement in tree.body)

    definition_types = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    # An import is kept like an assignment, only when a kept statement reads a name it binds: importing
    # matplotlib or otter in the worker would cost seconds per submission for nothing. Star imports
    # bind unknown names and __future__ imports change compilation, so those are always kept.
    keep = [isinstance(s, definition_types) or (isinstance(s, ast.ImportFrom) and
            (s.module == "__future__" or any(alias.name == "*" for alias in s.names)))
            for _, s, _ in statements]
    needed = set(keep_names)
    for (_, statement, _), kept in zip(statements, keep):
        if isinstance(statement, definition_types):
            needed |= _loaded_names(statement)
    # Follow dependencies: an assignment is kept when a kept statement reads its name.
    changed = True
    while changed:
        changed = False
        for index, (_, statement, _) in enumerate(statements):
            if not keep[index] and _assigned_names(statement) & needed:
                keep[index], changed = True, True
                needed |= _loaded_names(statement)

    for (label, statement, lines), kept in zip(statements, keep):
        is_docstring = isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
        if not kept and is_docstring:
            continue
        if not kept:
            loaded.skipped.append(f"{label}: `{_summary(statement, lines)}` (not needed by any definition)")
            continue
        first = min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", [])])
        code = "\n" * (first - 1) + "\n".join(lines[first - 1:statement.end_lineno])
        defines = ((statement.name,) if isinstance(statement, definition_types)
                   else tuple(sorted(_assigned_names(statement))))
        loaded.chunks.append(Chunk(label=label, code=code, defines=defines))
    for name in loaded.defined:
        loaded.broken.pop(name, None)  # a later, working definition wins
    return loaded


SUBMISSION_SUFFIXES = (".ipynb", ".py")


def find_submission_file(folder: str | Path, assignment: str, *, recursive: bool = False) -> tuple[Path | None, str]:
    """The file to grade in one student's folder (nbgrader's ``submitted/<student>/<assignment>/``, Gradescope's
    upload), or None and a message for the student: ``<assignment>.ipynb`` (or ``.py``) when there is one, else the
    only notebook, else the only file. ``recursive``: look in subfolders too (Gradescope keeps the upload's own)."""
    folder = Path(folder)
    found = folder.rglob("*") if recursive else folder.iterdir()
    files = sorted(path for path in found if path.is_file() and path.suffix in SUBMISSION_SUFFIXES
                   and ".ipynb_checkpoints" not in path.parts)
    for candidates in ([p for p in files if p.stem == assignment], [p for p in files if p.suffix == ".ipynb"],
                       files):
        if len(candidates) == 1 or (candidates and candidates[0].stem == assignment):
            return candidates[0], ""
        if candidates:
            break
    listed = ", ".join(path.name for path in files) or "no .ipynb or .py file"
    return None, f"Upload one notebook, named {assignment}.ipynb. Found: {listed}."
