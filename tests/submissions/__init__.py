"""Submissions for the project's tests, built from the reference source so no reference code is copied.

``with_replacements`` swaps top-level definitions of a solutions module for other
source text: one wrong function gives one catalogue mistake. ``stub_source``
replaces every graded function with the NotImplementedError stub students start from.
"""

from __future__ import annotations

import ast
from pathlib import Path

from autograder.course.assignments import ASSIGNMENTS, GRADED_CONSTANTS

SOLUTIONS = Path(__file__).resolve().parents[2] / "solutions"


def reference_source(assignment: str) -> str:
    return (SOLUTIONS / f"{assignment}.py").read_text()


def _top_level_spans(source: str) -> dict[str, tuple[int, int]]:
    spans = {}
    for node in ast.parse(source).body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            spans[node.name] = (start, node.end_lineno)
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            spans[node.targets[0].id] = (start, node.end_lineno)
    return spans


def with_replacements(assignment: str, replacements: dict[str, str], extra: str = "") -> str:
    """The reference module's source with the named top-level definitions replaced (bottom-up)."""
    source = reference_source(assignment)
    lines = source.splitlines()
    spans = _top_level_spans(source)
    for name in sorted(replacements, key=lambda n: spans[n][0], reverse=True):
        start, end = spans[name]
        lines[start - 1:end] = replacements[name].strip("\n").splitlines()
    return "\n".join(lines) + "\n" + extra


def stub_source(assignment: str) -> str:
    """Every graded function raises NotImplementedError; graded constants are left as None."""
    source = reference_source(assignment)
    replacements = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name in ASSIGNMENTS[assignment]:
            signature = ast.get_source_segment(source, node).split(":\n", 1)[0]
            replacements[node.name] = (f"{signature}:\n    raise NotImplementedError("
                                       f"\"implement {node.name}\")\n")
    for name in GRADED_CONSTANTS.get(assignment, ()):
        replacements[name] = f"{name} = None  # replace with the filter"
    return with_replacements(assignment, replacements)


def write_notebook(path: Path, cells: list[str]) -> Path:
    """Write code cells (a markdown title first) as an nbformat v4 notebook."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# Submission")] + [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(notebook, str(path))
    return path
