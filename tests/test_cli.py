"""`autograder grade` prints a table, writes Gradescope JSON, and exits 0 whatever the score."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import cli
from submissions import SOLUTIONS, stub_source

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "autograder.cli", *args], capture_output=True, text=True, timeout=300)


def test_does_grading_a_stub_exit_zero_and_write_valid_gradescope_json(tmp_path):
    path = tmp_path / "alice.py"
    path.write_text(stub_source("shifted_mnist"))
    out = tmp_path / "results.json"
    completed = run_cli("grade", str(path), "--assignment", "shifted_mnist", "--json", str(out))
    assert completed.returncode == 0, completed.stderr
    assert "shift_images" in completed.stdout and "0 / 6" in completed.stdout
    results = json.loads(out.read_text())
    assert results["score"] == 0 and results["max_score"] == 6 and results["stdout_visibility"] == "hidden"
    for test in results["tests"]:
        assert set(test) >= {"name", "score", "max_score", "output", "visibility"}
        assert test["visibility"] in ("visible", "after_published")
    assert {t["visibility"] for t in results["tests"]} == {"visible", "after_published"}


def test_does_the_reference_get_full_marks_from_the_command_line(tmp_path):
    completed = run_cli("grade", str(SOLUTIONS / "convolution.py"), "-a", "convolution")
    assert completed.returncode == 0 and "11 / 11" in completed.stdout


def test_does_a_grader_failure_say_internal_grading_error_and_exit_nonzero(monkeypatch, capsys, tmp_path):
    path = tmp_path / "bob.py"
    path.write_text(stub_source("convolution"))

    def broken_suite(*args, **kwargs):
        raise RuntimeError("suite exploded")

    monkeypatch.setattr("autograder.grading.grade.run_suite", broken_suite)
    assert cli.main(["grade", str(path), "-a", "convolution"]) == 1
    assert "internal grading error" in capsys.readouterr().out


def test_is_a_missing_file_a_usage_error_not_a_crash(tmp_path, capsys):
    assert cli.main(["grade", str(tmp_path / "none.py"), "-a", "convolution"]) == 2
    assert "is not a file" in capsys.readouterr().err


def test_is_the_terminal_output_free_of_markup_tags_and_quoted_code_whole(tmp_path):
    """Rich markup is rendered, never printed raw, and code quoted in a message keeps its brackets."""
    import nbformat

    from submissions import with_replacements
    from submissions.catalogue import CATALOGUE
    from test_release import filled_with_reference

    mistake = next(m for m in CATALOGUE if m.name == "flipped_kernel")
    source = tmp_path / "flipped.py"
    source.write_text(with_replacements("convolution", mistake.replacements, mistake.extra))
    graded = run_cli("grade", str(source), "-a", "convolution")
    assert graded.returncode == 0 and "✗ compute_convolution_at_position" in graded.stdout
    notebook = filled_with_reference("convolution", tmp_path / "convolution.ipynb")
    content = nbformat.read(str(notebook), as_version=4)
    for cell in content.cells:
        cell.source = cell.source.replace("img[i + k, j + l] * kernel[k, l]", "img[i + k, j + l] * kernel[-1 - k, -1 - l]")
    nbformat.write(content, str(notebook))
    shutil.copytree(ROOT / "release" / "convolution" / "tests", tmp_path / "tests")
    checked = run_cli("check", str(notebook))
    assert checked.returncode == 1 and "expected[i, j]" in checked.stdout, checked.stdout[-3000:]
    # what the public checks protect, and what the hidden tests weigh on top (the notebook's headings give totals)
    assert "hidden tests weigh" in checked.stdout and re.search(r"protect \d+ of the 11 points", checked.stdout)
    for output in (graded.stdout, checked.stdout):
        assert not re.search(r"\[/?(red|green|yellow|bold)\]", output), output[-2000:]
