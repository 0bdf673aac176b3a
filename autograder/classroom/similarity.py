"""Leads for a person to look at: pairs of submissions whose student-written code is alike.

copydetect does the comparison (winnowed k-gram fingerprints, as in MOSS; names, strings and
comments are normalised away, so renaming variables or rewording comments does not hide a
copy). What is compared is what the grader would run: the definitions the loader keeps
(``autograder.submission.load``), never the training runs, prints or plots around them. The released
notebook's code (the stubs, the given helpers and set-up) and the released helper modules are
copydetect's boilerplate: fingerprints found there are removed first, so an untouched stub
matches nothing and only what students wrote counts.

The pairs are shown only in the TA's ``report.html``; a student's feedback page never
shows another student's code. A high score is a reason to read two submissions side by side,
not a verdict: short functions that follow the lecture closely look alike.

What is compared is what the graded functions reach (autograder.classroom.what_runs, statically from the
AST): from the graded names (the manifest's questions and the constants the suites read), the top-level
functions, classes, assignments and imports they reference, followed transitively, less what never runs
inside them, plus the code exec()-ed from constants the grader can decode itself. Unused functions
interleaved with a copy do not dilute it. Code that builds itself at run time (exec, eval, compile,
marshal, pickle, importlib or ``__import__`` of a name, types.FunctionType/CodeType, the builtins module
as a value, writes to globals()) is a lead of its own, whether or not it pairs with anyone. Nothing here
runs a submission's code.
"""

from __future__ import annotations

import ast
import copy
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder.classroom.what_runs import (dead_code, dynamic_code, graded_names, reached, unpacked_code,
                                            without_dead_lines)
from autograder.course.assignments import PROJECT_ROOT
from autograder.submission.load import Chunk, SubmissionError, load_submission

RELEASE_DIR = PROJECT_ROOT / "release"
THRESHOLD = 0.6          # share of the student-written code of either submission found in the other
MIN_TOKENS = 60          # fewer fingerprinted characters than this: too little student code to compare
MAX_FILE_BYTES = 50_000_000  # a larger file is not read at all (a notebook's outputs count here)
MAX_CODE = 400_000       # characters of code, comments included, parsed per submission; more: not compared
MAX_SOURCE = 200_000     # characters of kept code, less comments and docstrings; more: not compared
LONG_STRING = 200        # a string constant longer than this counts as an empty one toward MAX_SOURCE
TIME_BUDGET_S = 300      # reading every submission; past it the rest are listed as not compared
LISTED_PAIRS = 200       # pairs listed in report.html, most alike first; the rest are counted
SHOWN_PAIRS = 30         # of those, pairs drawn side by side


@dataclass
class Pair:
    first: str
    second: str
    similarity: tuple[float, float]   # share of each one's fingerprinted code found in the other
    first_html: str = ""              # the code, HTML-escaped, with the matching parts marked
    second_html: str = ""

    @property
    def score(self) -> float:
        return max(self.similarity)


@dataclass
class DynamicLead:
    """A submission that builds code at run time (exec of a decoded string, marshal, ...): what it runs cannot
    be compared as text, so it is a lead for a person whatever its pairs."""
    student: str
    reasons: list[str]                # one per use, with its line: "line 7: exec() of zlib.decompress(...)"


@dataclass
class SimilarityReport:
    pairs: list[Pair]                 # the most alike, at most LISTED_PAIRS
    above_threshold: int              # how many pairs reach the threshold in all
    compared: int
    too_short: list[str]
    unreadable: list[str]
    threshold: float
    boilerplate: list[str]
    too_large: list[str] = field(default_factory=list)   # not compared: read these by hand
    out_of_time: list[str] = field(default_factory=list)  # not compared: TIME_BUDGET_S ran out
    dynamic: list[DynamicLead] = field(default_factory=list)  # code that builds itself: leads of their own
    unparsable: dict[str, str] = field(default_factory=dict)  # student -> what does not parse or read, and where


class TooLarge(ValueError):
    """A submission with more code than the similarity step reads (MAX_FILE_BYTES, MAX_CODE, MAX_SOURCE)."""


def _shape(statement: ast.stmt) -> str:
    """A statement's structure without docstrings or string values: the same for a stub left untouched,
    whatever its docstring, message or formatting."""
    statement = copy.deepcopy(statement)
    for node in ast.walk(statement):
        if hasattr(node, "decorator_list"):
            node.decorator_list = []  # @torch.no_grad() kept or dropped, a stub is a stub
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = ""  # a stub's message, reworded by the release, is still the stub
    return ast.dump(statement, annotate_fields=False)


def _statements(code: str) -> list[ast.stmt]:
    body = code.lstrip("\n")  # a chunk is padded to its line in the cell: parse the code, then move it there
    lines = [("" if line.lstrip().startswith(("!", "%")) else line) for line in body.splitlines()]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return []
    return ast.increment_lineno(tree, len(code) - len(body)).body


def _essential(code: str) -> str:
    """The code as ast.unparse writes it, without comments, docstrings or long string constants: what counts
    toward MAX_SOURCE, so that padding them cannot push a submission past it. Code that does not parse keeps its
    text, less its comment lines."""
    lines = [("" if line.lstrip().startswith(("!", "%")) else line) for line in code.splitlines()]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)) and len(node.value) > LONG_STRING:
            node.value = type(node.value)()
    return ast.unparse(tree)


@dataclass
class Reading:
    """What the similarity step takes from one submission."""
    code: str                  # the code the graded functions reach, less what the release gave, as written
    dynamic: list[str]         # why it builds code at run time (dynamic_code), one reason per use
    syntax_errors: list[str]   # "cell 3, line 2: invalid syntax" per part that does not parse (and cannot run)


def read_submission(path: Path, given: set[str] = frozenset(), roots=()) -> Reading:
    """Read a submission for the comparison, never running it. Its code is what the grader keeps (the loader's
    definitions) and what that code exec()s from constants the grader can decode, cut to the top-level statements
    that ``roots`` (the graded names) reach, less the lines inside them that never run (what_runs.dead_code), less
    every statement that is exactly one the student was given (``given``: their ``_shape``), such as an untouched
    stub, with comments and docstrings as written. Every cell that parses is searched for code that builds code
    (dynamic_code), the parts the loader skips included. Raises TooLarge past the limits above, before the costly
    steps."""
    from autograder.submission.load import _cells

    path = Path(path)
    if path.stat().st_size > MAX_FILE_BYTES:
        raise TooLarge(f"{path.stat().st_size} bytes")
    cells = _cells(path)
    code_size = sum(len(source) for _, source in cells)
    if code_size > MAX_CODE:
        raise TooLarge(f"{code_size} characters of code")
    dynamic, syntax_errors = [], []
    for label, source in cells:
        lines = [("" if line.lstrip().startswith(("!", "%")) else line) for line in source.splitlines()]
        try:
            dynamic += dynamic_code("\n".join(lines), label if label.startswith("cell") else "")
        except SyntaxError as error:
            syntax_errors.append(f"{label}, line {error.lineno}: {error.msg}")
    chunks = load_submission(path).chunks
    statements = [_statements(chunk.code) for chunk in chunks]
    # What the kept code exec()s from decoded constants runs too: each of its statements is compared as one of
    # the submission's own, headed by where it came from, and searched for code that builds code in turn.
    labels = [chunk.label for chunk, parsed in zip(chunks, statements) for _ in parsed]
    # Cheap first: exec, eval or compile, aliased or not, is spelled somewhere in the code that calls it.
    runs_text = any(word in chunk.code for chunk in chunks for word in ("exec", "eval", "compile"))
    for index, line, text in unpacked_code([statement for parsed in statements for statement in parsed]
                                           if runs_text else []):
        where = f"{labels[index]}, line {line}" if labels[index].startswith("cell") else f"line {line}"
        try:
            dynamic += [f"decoded from {where}: {reason}" for reason in dynamic_code(text)]
        except SyntaxError:
            continue
        for statement in ast.parse(text).body:
            code = f"# decoded from {where} (exec of a constant)\n{ast.get_source_segment(text, statement) or ''}"
            chunks.append(Chunk(label=f"decoded from {where}", defines=(), code=code))
            statements.append(_statements(code))
    flat = [(index, statement) for index, parsed in enumerate(statements) for statement in parsed]
    reach = reached([statement for _, statement in flat], roots)
    reached_chunks = {index for (index, _), kept in zip(flat, reach) if kept}
    dead = dead_code([statement for index in sorted(reached_chunks) for statement in statements[index]])
    kept = []
    for index, chunk in enumerate(chunks):
        if index not in reached_chunks:
            continue
        if statements[index] and all(_shape(statement) in given for statement in statements[index]):
            continue
        kept.append(without_dead_lines(chunk.code, statements[index], dead).strip("\n"))
    # Measured without comments and docstrings, compared as written (copydetect ignores comments itself, and the
    # report shows the submission's own lines): padding cannot push copied code out of reach, nor past the limit.
    essential = sum(len(_essential(code)) for code in kept)
    if essential > MAX_SOURCE:
        raise TooLarge(f"{essential} characters of code without comments")
    return Reading("\n\n".join(kept), dynamic, syntax_errors)


def student_code(path: Path, given: set[str] = frozenset(), roots=()) -> str:
    """The code of ``read_submission`` alone."""
    return read_submission(path, given, roots).code


def boilerplate_sources(assignment: str, release_dir: Path = RELEASE_DIR) -> dict[str, str]:
    """What every student was given: the released notebook's code cells and the helper modules beside it."""
    import nbformat

    folder = release_dir / assignment
    sources = {}
    notebook = folder / f"{assignment}.ipynb"
    if notebook.is_file():
        cells = nbformat.read(notebook, as_version=4).cells
        sources.update({f"{notebook.name}, cell {number}": cell.source for number, cell in enumerate(cells, 1)
                        if cell.cell_type == "code"})
    for helper in sorted(folder.glob("*.py")):
        sources[helper.name] = helper.read_text()
    return sources


def _candidates(prints: dict, threshold: float) -> list[tuple[float, float, str, str]]:
    """Every pair whose share of shared fingerprints reaches ``threshold`` for either side, as (smaller share,
    larger share, first, second), most alike first.

    copydetect's own CopyDetector calls compare_files on every pair, in Python: for 300 students that is
    44,850 calls and half a minute here. One sparse product (students x fingerprints) counts the shared
    fingerprints of every pair at once instead; compare_files then measures and marks only the pairs that
    the report shows."""
    import numpy as np
    from scipy import sparse

    students = sorted(prints)
    if len(students) < 2:
        return []
    hashes = [np.fromiter(prints[student].hashes, dtype=np.int64) for student in students]
    values, columns = np.unique(np.concatenate(hashes), return_inverse=True)
    rows = np.repeat(np.arange(len(students)), [len(h) for h in hashes])
    matrix = sparse.csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, columns)),
                               shape=(len(students), len(values)))
    shared = sparse.triu(matrix @ matrix.T, k=1).tocoo()
    sizes = np.array([len(h) for h in hashes], dtype=float)
    first_share, second_share = shared.data / sizes[shared.row], shared.data / sizes[shared.col]
    low, high = np.minimum(first_share, second_share), np.maximum(first_share, second_share)
    keep = np.flatnonzero(high >= threshold)
    order = keep[np.lexsort((-high[keep], -low[keep]))]
    return [(float(low[i]), float(high[i]), students[shared.row[i]], students[shared.col[i]]) for i in order]


def find_similar(submissions, assignment: str, *, threshold: float = THRESHOLD,
                 release_dir: Path = RELEASE_DIR) -> SimilarityReport:
    """Compare every pair of ``submissions`` (objects with ``student`` and ``path``)."""
    from copydetect import CodeFingerprint, compare_files
    from copydetect.defaults import GUARANTEE_THRESHOLD, NOISE_THRESHOLD
    from copydetect.utils import highlight_overlap

    k, window = NOISE_THRESHOLD, GUARANTEE_THRESHOLD - NOISE_THRESHOLD + 1
    given = boilerplate_sources(assignment, release_dir)
    boilerplate = sorted({h for code in given.values()
                          for h in CodeFingerprint("given.py", k, 1, language="python", fp=io.StringIO(code)).hashes})
    shapes = {_shape(statement) for code in given.values() for statement in _statements(code)}
    prints, too_short, unreadable, too_large, out_of_time = {}, [], [], [], []
    dynamic, unparsable = [], {}
    roots = graded_names(assignment)
    deadline = time.monotonic() + TIME_BUDGET_S
    for submission in submissions:
        if time.monotonic() > deadline:
            out_of_time.append(submission.student)
            continue
        try:
            reading = read_submission(submission.path, shapes, roots)
        except TooLarge:
            too_large.append(submission.student)
            continue
        except SubmissionError as error:
            unreadable.append(submission.student)
            unparsable[submission.student] = str(error)
            continue
        except (OSError, RecursionError, ValueError, MemoryError) as error:
            unreadable.append(submission.student)
            unparsable[submission.student] = f"{type(error).__name__}: {error}"[:200]
            continue
        if reading.dynamic:
            dynamic.append(DynamicLead(submission.student, reading.dynamic))
        if reading.syntax_errors:
            unparsable[submission.student] = "; ".join(reading.syntax_errors) + (
                " (that part cannot run, and is not compared)" if reading.code.strip() else
                " (nothing else to compare)")
        fingerprint = CodeFingerprint(f"{submission.student}.py", k, window, boilerplate, language="python",
                                      fp=io.StringIO(reading.code))
        if fingerprint.token_coverage < MIN_TOKENS:
            too_short.append(submission.student)
        else:
            prints[submission.student] = fingerprint
    candidates = _candidates(prints, threshold)
    # copydetect measures the listed pairs (its share: overlapping tokens over fingerprinted tokens), and they
    # are ordered by its numbers; the fingerprint count above only chose them.
    pairs, slices = [], {}
    for _, _, first, second in candidates[:LISTED_PAIRS]:
        _, similarity, slices[first, second] = compare_files(prints[first], prints[second])
        pairs.append(Pair(first, second, (float(similarity[0]), float(similarity[1]))))
    pairs.sort(key=lambda pair: (-min(pair.similarity), -pair.score, pair.first, pair.second))
    for pair in pairs[:SHOWN_PAIRS]:
        first_slices, second_slices = slices[pair.first, pair.second]
        pair.first_html = highlight_overlap(prints[pair.first].raw_code, first_slices, "<mark>", "</mark>",
                                            escape_html=True)[0]
        pair.second_html = highlight_overlap(prints[pair.second].raw_code, second_slices, "<mark>", "</mark>",
                                             escape_html=True)[0]
    return SimilarityReport(pairs=pairs, above_threshold=len(candidates), compared=len(prints),
                            too_short=sorted(too_short), unreadable=sorted(unreadable), threshold=threshold,
                            boilerplate=sorted({name.split(",")[0] for name in given}), too_large=sorted(too_large),
                            out_of_time=sorted(out_of_time), dynamic=sorted(dynamic, key=lambda lead: lead.student),
                            unparsable=dict(sorted(unparsable.items())))
