"""The notebooks run for real: in a Jupyter kernel through nbclient, offline, as students and nbgrader run them."""

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest
from nbgrader.utils import is_grade

from autograder.suites import ASSIGNMENTS, GRADED_CONSTANTS

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
PLOTS = {"convolution": 1, "conv_gradients": 1, "training": 1, "shifted_mnist": 3}


def execute(folder: Path, workdir: Path):
    """Copy an assignment folder and run its notebook top to bottom, keeping errors as outputs."""
    copy = workdir / folder.name
    shutil.copytree(folder, copy)
    notebook = nbformat.read(str(copy / f"{folder.name}.ipynb"), as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=True,
                                     resources={"metadata": {"path": str(copy)}})
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


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_does_the_source_notebook_run_clean_with_full_points_and_its_plots(assignment, tmp_path):
    notebook = execute(ROOT / "assignments" / assignment, tmp_path)
    plots = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        assert not errors(cell), (cell.source[:80], [e.evalue for e in errors(cell)])
        plots += sum("image/png" in output.get("data", {}) for output in cell.outputs)
        if is_grade(cell):  # a test cell runs the public check only, and it passes on the reference
            shown = "".join(output.get("data", {}).get("text/plain", "") + output.get("text", "")
                            for output in cell.outputs)
            assert shown and "❌" not in shown and "failed" not in shown, shown[:300]
    assert plots >= PLOTS[assignment]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_does_nbgrader_validate_accept_the_source_notebook(assignment, tmp_path):
    copy = tmp_path / assignment
    shutil.copytree(ROOT / "assignments" / assignment, copy)
    nbgrader = Path(sys.executable).parent / "nbgrader"
    run = subprocess.run([str(nbgrader), "validate", f"{assignment}.ipynb"], cwd=copy, capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0 and "Success! Your notebook passes all the tests." in run.stdout, \
        run.stdout[-3000:] + run.stderr[-3000:]
