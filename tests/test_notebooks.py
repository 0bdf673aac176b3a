"""The notebooks run for real: in a Jupyter kernel through nbclient, offline, as students and nbgrader run them."""

import ast
import contextlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest
from nbgrader.preprocessors import CheckCellMetadata, ClearOutput, Execute
from nbgrader.utils import determine_grade, is_grade, setenv

from autograder.course.assignments import ASSIGNMENTS, GRADED_CONSTANTS
from prose import unsupported_claims

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
PLOTS = {"convolution": 1, "conv_gradients": 1, "training": 1, "shifted_mnist": 3, "deconvolution": 5, "optimization": 4,
         "what_networks_see": 5}
# Figures a notebook quotes from elsewhere, exempt from the prose rule, each with its reason.
QUOTED: dict[str, dict[str, str]] = {
    "what_networks_see": {"72%": "the workshop's perceptron on the full FashionMNIST (Feydy, part 2), named as the "
                                 "workshop's figure beside this run's own"},
}


@contextlib.contextmanager
def one_torch_thread():
    """Kernels started inside run torch on one thread. Under pytest-xdist two workers share the 2 cores, and a
    kernel that starts two torch threads beside a busy worker oversubscribes them: the training notebook took
    294 s that way, against 36 s on one thread."""
    saved = {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    os.environ.update({name: "1" for name in saved})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def execute(folder: Path, workdir: Path):
    """Copy an assignment folder and run its notebook top to bottom, keeping errors as outputs."""
    copy = workdir / folder.name
    shutil.copytree(folder, copy)
    notebook = nbformat.read(str(copy / f"{folder.name}.ipynb"), as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=True,
                                     resources={"metadata": {"path": str(copy)}})
    with one_torch_thread():
        client.execute()
    return notebook


def errors(cell):
    return [output for output in cell.get("outputs", []) if output.output_type == "error"]


def uses(cell, names):
    """Does the cell's code read any of ``names``?"""
    tree = ast.parse(cell.source)
    return any(isinstance(node, ast.Name) and node.id in names for node in ast.walk(tree))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_does_the_release_notebook_run_with_only_the_stubs_raising(assignment, tmp_path):
    notebook = execute(ROOT / "release" / assignment, tmp_path)
    graded = set(ASSIGNMENTS[assignment]) | set(GRADED_CONSTANTS.get(assignment, ()))
    raised = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        for error in errors(cell):
            # Only a stub raises: a cell that calls a graded function, or a stub cell itself.
            assert error.ename == "NotImplementedError", (cell.source[:80], error.ename, error.evalue)
            assert uses(cell, graded) or meta.get("solution"), cell.source[:80]
            assert re.search(r"(\w+ is not written yet|your code for \w+)", error.evalue), error.evalue
            raised += 1
        if meta.get("grade"):  # a check cell shows a failing check, it does not raise
            assert not errors(cell)
            shown = "".join(output.get("data", {}).get("text/plain", "") for output in cell.outputs)
            assert "❌ Test case failed" in shown and "NotImplementedError" in shown
    assert raised >= 1


def execute_as_nbgrader_validates(folder: Path, workdir: Path):
    """Copy an assignment folder and run its notebook through the preprocessors `nbgrader validate` uses
    (CheckCellMetadata, ClearOutput, Execute), in nbgrader's validating environment."""
    copy = workdir / folder.name
    shutil.copytree(folder, copy)
    notebook = nbformat.read(str(copy / f"{folder.name}.ipynb"), as_version=4)
    resources = {"metadata": {"path": str(copy)}}
    with setenv(NBGRADER_VALIDATING="1", NBGRADER_EXECUTION="validate"), one_torch_thread():
        for step in (CheckCellMetadata(), ClearOutput(), Execute(timeout=600)):
            notebook, resources = step.preprocess(notebook, resources)
    return notebook


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_does_the_source_notebook_validate_with_full_points_its_plots_and_only_computed_numbers(assignment,
                                                                                                  tmp_path):
    """What `nbgrader validate` checks (no error, every graded cell at full points), and the prose rule of
    tests/prose.py: every result the text states is one this run printed."""
    notebook = execute_as_nbgrader_validates(ROOT / "assignments" / assignment, tmp_path)
    plots = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        assert not errors(cell), (cell.source[:80], [e.evalue for e in errors(cell)])
        plots += sum("image/png" in output.get("data", {}) for output in cell.outputs)
        if is_grade(cell):  # a test cell runs the public check only, and it passes on the reference
            score, max_score = determine_grade(cell)
            shown = "".join(output.get("data", {}).get("text/plain", "") + output.get("text", "")
                            for output in cell.outputs)
            assert score == max_score and shown and "❌" not in shown and "failed" not in shown, shown[:300]
    assert plots >= PLOTS[assignment]
    unsupported = unsupported_claims(notebook, QUOTED.get(assignment, ()))
    assert not unsupported, "numbers in the prose that the run does not show: " + "; ".join(
        f"cell {claim.cell}: {claim.text!r}" for claim in unsupported)


def test_does_nbgrader_validate_accept_a_source_notebook(tmp_path):
    """The `nbgrader validate` command itself, on the quickest notebook: the test above runs every notebook
    through the same preprocessors, so running the command on all of them would only repeat the training."""
    assignment = "convolution"
    copy = tmp_path / assignment
    shutil.copytree(ROOT / "assignments" / assignment, copy)
    nbgrader = Path(sys.executable).parent / "nbgrader"
    run = subprocess.run([str(nbgrader), "validate", f"{assignment}.ipynb"], cwd=copy, capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0 and "Success! Your notebook passes all the tests." in run.stdout, \
        run.stdout[-3000:] + run.stderr[-3000:]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_are_the_sections_numbered_one_by_one_each_opening_its_own_cell(assignment):
    """"## N. Title" headings count 1, 2, 3... and each starts a markdown cell, so an outline shows them all."""
    notebook = nbformat.read(str(ROOT / "assignments" / assignment / f"{assignment}.ipynb"), as_version=4)
    numbers = []
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        found = [int(n) for n in re.findall(r"^## (\d+)\.", cell.source, re.MULTILINE)]
        assert len(found) <= 1 and (not found or cell.source.startswith("## ")), cell.source[:120]
        numbers += found
    assert numbers == list(range(1, len(numbers) + 1)), numbers
