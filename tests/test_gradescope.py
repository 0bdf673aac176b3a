"""`autograder gradescope`: the zip's contents, and run_autograder in an imitation of Gradescope's /autograder."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest

from autograder.cli import main
from autograder.suites import ASSIGNMENTS
from submissions import with_replacements
from submissions.catalogue import CATALOGUE
from test_release import filled_with_reference

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "convolution"

# Gradescope's results.json (https://gradescope-autograders.readthedocs.io/en/latest/specs/), the fields we use.
VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
RESULTS_SCHEMA = {
    "type": "object",
    "required": ["score", "tests", "stdout_visibility"],
    "properties": {
        "score": {"type": "number", "minimum": 0},
        "max_score": {"type": "number"},
        "execution_time": {"type": "number"},
        "output": {"type": "string"},
        "visibility": VISIBILITY,
        "stdout_visibility": VISIBILITY,
        "tests": {"type": "array", "items": {
            "type": "object",
            "required": ["name", "score", "max_score", "output", "visibility"],
            "properties": {"name": {"type": "string", "minLength": 1}, "score": {"type": "number", "minimum": 0},
                           "max_score": {"type": "number", "minimum": 0}, "output": {"type": "string"},
                           "visibility": VISIBILITY, "status": {"enum": ["passed", "failed"]},
                           "number": {"type": "string"}, "tags": {"type": "array"}}}},
    },
}


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    path = tmp_path_factory.mktemp("zip") / f"autograder_{ASSIGNMENT}.zip"
    assert main(["gradescope", "--assignment", ASSIGNMENT, "--out", str(path)]) == 0
    return path


def run_autograder(archive, root: Path, submission: Path, name: str):
    """Unpack into ROOT/source, put the submission in ROOT/submission, run run_autograder, read the results."""
    for folder in ("source", "submission", "results"):
        (root / folder).mkdir(parents=True)
    with zipfile.ZipFile(archive) as unpacked:
        unpacked.extractall(root / "source")
    shutil.copy(submission, root / "submission" / name)
    environment = os.environ | {"AUTOGRADER_ROOT": str(root),
                                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run(["bash", str(root / "source" / "run_autograder")], cwd=root, env=environment,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(results, RESULTS_SCHEMA)
    return results


def test_does_the_zip_carry_the_grader_this_suite_and_its_solutions_only(archive):
    names = set(zipfile.ZipFile(archive).namelist())
    assert {"setup.sh", "run_autograder", "requirements.txt", "autograder/grade.py", "autograder/sandbox.py",
            "autograder/worker.py", "solutions/convolution.py", f"autograder/suites/{ASSIGNMENT}/test_apply_convolution.py"
            } <= names
    others = [a for a in ASSIGNMENTS if a != ASSIGNMENT]
    assert not [n for n in names if any(f"suites/{other}/" in n for other in others)]
    assert not [n for n in names if n.startswith(("assignments/", "release/", "tests/", "examples/", "benchmarks/"))]
    assert "solutions/training.py" not in names  # the convolution suite does not import it
    for script in ("setup.sh", "run_autograder"):
        assert (zipfile.ZipFile(archive).getinfo(script).external_attr >> 16) & 0o111


def test_does_the_unpacked_zip_import_its_own_copy_of_the_grader(archive, tmp_path):
    with zipfile.ZipFile(archive) as unpacked:
        unpacked.extractall(tmp_path)
    where = subprocess.run([sys.executable, "-c", "import autograder, solutions; print(autograder.__file__); "
                            "print(solutions.__file__)"], cwd=tmp_path, capture_output=True, text=True).stdout
    assert all(line.startswith(str(tmp_path)) for line in where.split()), where


def test_does_a_correct_notebook_get_full_marks_with_public_and_hidden_visibility(archive, tmp_path):
    notebook = filled_with_reference(ASSIGNMENT, tmp_path / "student.ipynb")
    results = run_autograder(archive, tmp_path / "autograder", notebook, f"{ASSIGNMENT}.ipynb")
    assert results["score"] == results["max_score"] == sum(ASSIGNMENTS[ASSIGNMENT].values())
    visibilities = {test["visibility"] for test in results["tests"]}
    assert visibilities == {"visible", "after_published"}
    public = [t["name"] for t in results["tests"] if t["visibility"] == "visible"]
    assert any("3x3 kernel on a 7x11 image match" in name for name in public)


def test_does_a_buggy_submission_lose_points_with_a_diagnosis(archive, tmp_path):
    mistake = next(m for m in CATALOGUE if m.name == "flipped_kernel")
    source = tmp_path / "buggy.py"
    source.write_text(with_replacements(ASSIGNMENT, mistake.replacements, mistake.extra))
    results = run_autograder(archive, tmp_path / "autograder", source, "buggy.py")
    assert 0 < results["score"] < results["max_score"]
    assert any("a flipped kernel" in test["output"] for test in results["tests"])


def test_does_a_hostile_submission_get_a_result_but_not_the_zips_solutions(archive, tmp_path):
    """It tries to read the reference solution from the unpacked zip, by its exact path."""
    root = tmp_path / "autograder"
    target = root / "source" / "solutions" / "convolution.py"
    hostile = tmp_path / "hostile.py"
    hostile.write_text("def apply_convolution(img, kernel):\n    try:\n"
                       f"        text = open({str(target)!r}).read()\n"
                       "    except OSError as error:\n        raise RuntimeError(f'REFUSED {type(error).__name__}')\n"
                       "    raise RuntimeError(f'READ {len(text)} characters')\n")
    results = run_autograder(archive, root, hostile, f"{ASSIGNMENT}.py")
    assert results["score"] == 0 and target.exists()
    outputs = " ".join(test["output"] for test in results["tests"])
    assert "REFUSED" in outputs and "READ " not in outputs


def test_does_an_empty_upload_get_a_zero_with_instructions(archive, tmp_path):
    readme = tmp_path / "notes.txt"
    readme.write_text("oops")
    results = run_autograder(archive, tmp_path / "autograder", readme, "notes.txt")
    assert results["score"] == 0 and f"{ASSIGNMENT}.ipynb" in results["output"]
