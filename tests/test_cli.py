"""`autograder grade` prints a table, writes Gradescope JSON, and exits 0 whatever the score."""

import json
import subprocess
import sys

import pytest

from autograder import cli
from submissions import SOLUTIONS, stub_source

pytestmark = pytest.mark.slow


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

    monkeypatch.setattr("autograder.grade.run_suite", broken_suite)
    assert cli.main(["grade", str(path), "-a", "convolution"]) == 1
    assert "internal grading error" in capsys.readouterr().out


def test_is_a_missing_file_a_usage_error_not_a_crash(tmp_path, capsys):
    assert cli.main(["grade", str(tmp_path / "none.py"), "-a", "convolution"]) == 2
    assert "is not a file" in capsys.readouterr().err
