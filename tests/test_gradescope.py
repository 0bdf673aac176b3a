"""`autograder gradescope`: the zip's contents, and run_autograder in an imitation of Gradescope's /autograder."""

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import jsonschema
import nbformat
import pytest
import torch

from autograder.cli import main
from autograder.course.assignments import ASSIGNMENTS
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


# Ubuntu 22.04's python3 is 3.10, too old for the pinned packages; its python3.11 is one apt-get away.
PYTHON_310 = """#!/bin/sh
case "$*" in -V|--version) echo "Python 3.10.12" ;; *) exit 1 ;; esac
"""


@pytest.fixture(scope="session")
def setup_run(tmp_path_factory):
    """The zip's own setup.sh, run for real with AUTOGRADER_ROOT pointing at a folder of ours: on a PATH whose
    python3 is 3.10 (Ubuntu 22.04's), with torch and every pin taken by name from pip's configured index. It makes
    ROOT/venv, Gradescope's /autograder/venv. Made once per machine and reused while setup.sh and requirements.txt
    are the same (it installs gigabytes); ROOT/setup.log keeps what that run printed."""
    from filelock import FileLock

    from autograder.platforms.gradescope.build import build_zip

    archive = build_zip(assignment=ASSIGNMENT, out=tmp_path_factory.mktemp("setup-zip") / "autograder.zip")
    with zipfile.ZipFile(archive) as unpacked:
        setup, requirements = unpacked.read("setup.sh"), unpacked.read("requirements.txt")
    key = hashlib.sha256(setup + requirements).hexdigest()[:12]
    root = Path(tempfile.gettempdir()) / f"autograder-gradescope-setup-{key}"
    with FileLock(str(root) + ".lock"):
        if not (root / ".complete").exists():
            shutil.rmtree(root, ignore_errors=True)
            (root / "source").mkdir(parents=True)
            (root / "bin").mkdir()
            with zipfile.ZipFile(archive) as unpacked:
                unpacked.extractall(root / "source")
            (root / "bin" / "python3").write_text(PYTHON_310)
            (root / "bin" / "python3").chmod(0o755)
            run = subprocess.run(["/bin/bash", str(root / "source" / "setup.sh")], capture_output=True, text=True,
                                 env={"PATH": f"{root / 'bin'}:/usr/bin:/bin", "AUTOGRADER_ROOT": str(root),
                                      "TORCH_INDEX_URL": "", "HOME": str(root), "LANG": "C.UTF-8",
                                      "PIP_NO_CACHE_DIR": "1"}, timeout=1200)
            (root / "setup.log").write_text(f"exit {run.returncode}\n{run.stdout}\n{run.stderr}")
            assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
            (root / ".complete").write_text("")
    for folder in [root, *root.parents]:
        if folder != Path("/") and not folder.stat().st_mode & 0o005:
            pytest.skip(f"{folder} is closed to other users: the setup's venv cannot serve a sandbox uid")
    return root


@pytest.fixture(scope="session")
def clean_venv(setup_run):
    """The venv setup.sh made: only what it installs (no nbgrader, no rich, no project)."""
    venv = setup_run / "venv"
    probe = subprocess.run([str(venv / "bin" / "python"), "-c", "import torch, numpy, nbformat, pytest; "
                            "import importlib.util as u; print(u.find_spec('nbgrader'), u.find_spec('rich'))"],
                           capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert probe.returncode == 0 and probe.stdout.split() == ["None", "None"], probe.stdout + probe.stderr
    return venv


def test_does_setup_sh_choose_a_new_enough_python_and_install_every_pin(setup_run, clean_venv):
    """On an image whose python3 is 3.10, setup.sh builds the venv with python3.11 and installs exactly the pins
    of requirements.txt, torch by name from the index pip is configured with."""
    from packaging.utils import canonicalize_name

    log = (setup_run / "setup.log").read_text()
    assert log.startswith("exit 0") and "setup.sh: Python 3.11" in log and "python3.11" in log, log[-2000:]
    assert "Python 3.10" not in log.split("setup.sh: Python", 1)[1]
    listing = ("import sys, importlib.metadata as m\nprint(sys.version_info[:2])\n"
               "for d in m.distributions(): print(d.metadata['Name'] + '==' + d.version)\n")
    versions = subprocess.run([str(clean_venv / "bin" / "python"), "-c", listing], capture_output=True,
                              text=True).stdout.splitlines()
    installed = {canonicalize_name(line.split("==")[0]): line.split("==")[1] for line in versions[1:] if "==" in line}
    for line in (setup_run / "source" / "requirements.txt").read_text().split():
        name, version = line.split("==")
        assert installed.get(canonicalize_name(name), "").split("+")[0] == version, (line, installed.get(name))


@pytest.fixture
def imitation_root():
    """An /autograder of our own, open to other users like Gradescope's (pytest's tmp_path is not)."""
    root = Path(tempfile.mkdtemp(prefix="autograder-imitation-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def path_for(mode: str, tmp_path: Path) -> str:
    """PATH without the project's venv: with the real bwrap, a bwrap failing as under Docker's seccomp profile,
    or no bwrap at all."""
    if mode == "bwrap":
        return "/usr/bin:/bin"
    folder = tmp_path / f"bin-{mode}"
    folder.mkdir()
    if mode == "bwrap-fails":
        (folder / "bwrap").write_text("#!/bin/sh\necho 'bwrap: Creating new namespace failed: Operation not permitted'"
                                      " >&2\nexit 1\n")
        (folder / "bwrap").chmod(0o755)
        return f"{folder}:/usr/bin:/bin"
    return str(folder)


def run_autograder(archive, root: Path, submission: Path, name: str, *, venv: Path, path: str | None = None,
                   extra_env: dict | None = None):
    """Unpack into ROOT/source, put the submission in ROOT/submission, run run_autograder, read the results."""
    for folder in ("source", "submission", "results"):
        (root / folder).mkdir(parents=True)
    with zipfile.ZipFile(archive) as unpacked:
        unpacked.extractall(root / "source")
    shutil.copy(submission, root / "submission" / name)
    (root / "venv").symlink_to(venv)  # what setup.sh makes, and nothing of the project's environment
    environment = {"PATH": path or "/usr/bin:/bin", "LANG": "C.UTF-8", "AUTOGRADER_ROOT": str(root)} | (extra_env or {})
    run = subprocess.run(["/bin/bash", str(root / "source" / "run_autograder")], cwd=root, env=environment,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(results, RESULTS_SCHEMA)
    return results, run


def test_does_the_zip_carry_the_grader_this_suite_and_its_solutions_only(archive):
    names = set(zipfile.ZipFile(archive).namelist())
    assert {"setup.sh", "run_autograder", "requirements.txt", "autograder/grading/grade.py", "autograder/sandbox/channel.py",
            "autograder/worker/serve.py", "solutions/convolution.py", f"autograder/suites/{ASSIGNMENT}/test_apply_convolution.py"
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


REFERENCE_LINE = next(line.strip() for line in (ROOT / "solutions" / "convolution.py").read_text().splitlines()
                      if "img[i + k, j + l] * kernel[k, l]" in line)
SUITE_LINE = next(line.strip() for line in (ROOT / "autograder" / "suites" / ASSIGNMENT /
                                             "test_apply_convolution.py").read_text().splitlines()
                  if line.startswith("def test_"))
SEARCH_CELL = """
def _search_for_answers(value):
    import glob, os, pathlib, time
    candidates, started = [], time.monotonic()
    import autograder
    for top in [str(pathlib.Path(autograder.__file__).parents[1]), ROOT] + glob.glob("/proc/*/cwd") \\
            + glob.glob("/proc/*/root" + ROOT):
        for folder, _, files in os.walk(top):
            if time.monotonic() - started > 3:
                break
            candidates += [os.path.join(folder, name) for name in files if name.endswith((".py", ".json"))]
    found = []
    for candidate in candidates:
        try:
            text = open(candidate, errors="replace").read()
        except OSError:
            continue
        if REFERENCE_LINE in text or SUITE_LINE in text:
            found.append(candidate)
    print("SEARCHED", len(candidates), "FOUND", len(found), found)
    return value


SOBEL_X = _search_for_answers(SOBEL_X)
"""


def searching_notebook(path: Path, root: Path) -> Path:
    """A correct notebook with one more cell: at load, it searches the imitation for the reference and the
    hidden suite (through the grader's package, /proc and the /autograder folders) and prints what it read."""
    notebook = filled_with_reference(ASSIGNMENT, path)
    content = nbformat.read(str(notebook), as_version=4)
    constants = f"ROOT = {str(root)!r}\nREFERENCE_LINE = {REFERENCE_LINE!r}\nSUITE_LINE = {SUITE_LINE!r}\n"
    content.cells.append(nbformat.v4.new_code_cell(constants + SEARCH_CELL))
    nbformat.write(content, str(notebook))
    return notebook


@pytest.mark.parametrize("mode", ["bwrap", "bwrap-fails", "no-bwrap"])
def test_does_a_correct_notebook_get_full_marks_and_find_no_answer_in_every_isolation_mode(
        archive, clean_venv, imitation_root, tmp_path, mode):
    """In a clean interpreter (only what setup.sh installs): bwrap working, bwrap failing as under Docker's
    seccomp profile (Landlock takes over), and no bwrap on a kernel without Landlock (a sandbox uid)."""
    if mode == "bwrap" and shutil.which("bwrap", path="/usr/bin:/bin") is None:
        pytest.skip("bubblewrap is not installed")
    notebook = searching_notebook(tmp_path / "student.ipynb", imitation_root)
    extra = {"AUTOGRADER_SANDBOX_MODES": "bwrap,uid"} if mode == "no-bwrap" else {}
    results, run = run_autograder(archive, imitation_root, notebook, f"{ASSIGNMENT}.ipynb", venv=clean_venv,
                                  path=path_for(mode, tmp_path), extra_env=extra)
    if "refusing to grade" in results["output"]:  # never a leak; but this machine cannot show the uid mode
        assert results["output"].startswith("NOT GRADED") and results["score"] == 0
        pytest.skip(f"no sandbox uid here: {results['output'][-300:]}")
    expected = {"bwrap": "isolation: bwrap", "bwrap-fails": "isolation: landlock", "no-bwrap": "isolation: uid"}[mode]
    assert expected in run.stdout, run.stdout + run.stderr
    assert results["score"] == results["max_score"] == sum(ASSIGNMENTS[ASSIGNMENT].values())
    printed = " ".join(test["output"] for test in results["tests"])
    assert "SEARCHED" in printed and "FOUND 0 []" in printed, printed[:2000]
    assert REFERENCE_LINE not in json.dumps(results) and SUITE_LINE not in json.dumps(results)
    # Public tests are visible, hidden ones after publication; no 0-point check shows as a red failure.
    assert {test["visibility"] for test in results["tests"]} == {"visible", "after_published"}
    assert all(test["score"] == test["max_score"] > 0 for test in results["tests"]), results["tests"]
    public = [t["name"] for t in results["tests"] if t["visibility"] == "visible"]
    assert any("3x3 kernel on a 7x11 image match" in name for name in public)
    if not torch.cuda.is_available():
        assert "Not run on this machine" in results["output"] and "CUDA" in results["output"]


def test_is_the_zip_pinned_and_its_setup_explicit_about_the_image(archive):
    with zipfile.ZipFile(archive) as unpacked:
        requirements = unpacked.read("requirements.txt").decode().split()
        setup = unpacked.read("setup.sh").decode()
    assert requirements and all("==" in line for line in requirements), requirements
    assert {"torch", "numpy", "nbformat", "pytest"} <= {line.split("==")[0] for line in requirements}
    assert not [line for line in requirements if line.startswith(("nvidia-", "triton", "cuda-"))]
    torch_pin = next(line for line in requirements if line.startswith("torch=="))
    assert "TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}" in setup  # the CPU build unless told otherwise
    assert f'--index-url "$TORCH_INDEX_URL" {torch_pin}' in setup
    assert '-m venv "$ROOT/venv"' in setup and "Ubuntu" in setup
    assert "(3, 11)" in setup and "python3.11-venv" in setup  # numpy 2.4 and others need 3.11: 22.04's is 3.10


def test_does_a_grader_that_cannot_isolate_say_so_plainly_instead_of_a_silent_zero(tmp_path, monkeypatch):
    from autograder.platforms.gradescope import run as gradescope
    from autograder.sandbox import isolation
    from autograder.sandbox import isolation as sandbox

    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    filled_with_reference(ASSIGNMENT, root / "submission" / f"{ASSIGNMENT}.ipynb")
    monkeypatch.setattr(isolation, "bwrap_problem", lambda: "bwrap failed (Creating new namespace failed)")
    monkeypatch.setattr(isolation, "landlock_abi", lambda: 0)
    monkeypatch.setattr(isolation, "_uid_problem", lambda hidden: "the grader is not root")
    sandbox._resolve.cache_clear()
    try:
        data = gradescope.run(root=root, assignment=ASSIGNMENT)
    finally:
        sandbox._resolve.cache_clear()
    written = json.loads((root / "results" / "results.json").read_text())
    assert written == data and data["output"].startswith("NOT GRADED") and "not a problem with your code" in \
        data["output"]
    assert "Creating new namespace failed" in data["output"] and data["visibility"] == "visible"
    jsonschema.validate(data, RESULTS_SCHEMA)


def test_does_a_buggy_submission_lose_points_with_a_diagnosis(archive, clean_venv, imitation_root, tmp_path):
    mistake = next(m for m in CATALOGUE if m.name == "flipped_kernel")
    source = tmp_path / "buggy.py"
    source.write_text(with_replacements(ASSIGNMENT, mistake.replacements, mistake.extra))
    results, _ = run_autograder(archive, imitation_root, source, "buggy.py", venv=clean_venv)
    assert 0 < results["score"] < results["max_score"]
    assert any("a flipped kernel" in test["output"] for test in results["tests"])


def test_does_a_hostile_submission_get_a_result_but_not_the_zips_solutions(archive, clean_venv, imitation_root,
                                                                          tmp_path):
    """It tries to read the reference solution from the unpacked zip, by its exact path."""
    root = imitation_root
    target = root / "source" / "solutions" / "convolution.py"
    hostile = tmp_path / "hostile.py"
    hostile.write_text("def apply_convolution(img, kernel):\n    try:\n"
                       f"        text = open({str(target)!r}).read()\n"
                       "    except OSError as error:\n        raise RuntimeError(f'REFUSED {type(error).__name__}')\n"
                       "    raise RuntimeError(f'READ {len(text)} characters')\n")
    results, _ = run_autograder(archive, root, hostile, f"{ASSIGNMENT}.py", venv=clean_venv)
    assert results["score"] == 0 and target.exists()
    outputs = " ".join(test["output"] for test in results["tests"])
    assert "REFUSED" in outputs and "READ " not in outputs


def test_does_an_empty_upload_get_a_zero_with_instructions(archive, clean_venv, imitation_root, tmp_path):
    readme = tmp_path / "notes.txt"
    readme.write_text("oops")
    results, _ = run_autograder(archive, imitation_root, readme, "notes.txt", venv=clean_venv)
    assert results["score"] == 0 and f"{ASSIGNMENT}.ipynb" in results["output"]


def test_is_what_loading_left_out_one_line_in_the_visible_output_and_a_syntax_error_whole():
    from autograder.grading.results import SubmissionResult

    skipped = [f"cell {cell}, line {line}: `plt.plot(history[{line}])` (not needed by any definition)"
               for cell in range(3, 30) for line in range(1, 5)]
    skipped.append("cell 31 has a syntax error on line 2: invalid syntax (lost: blur)")
    result = SubmissionResult(assignment=ASSIGNMENT, submission="x.ipynb", student="x", status="ok",
                              skipped_content=skipped)
    output = result.to_gradescope()["output"]
    lines = [line for line in output.splitlines() if line.strip()]
    summary = [line for line in lines if line.startswith("Not run while grading")]
    assert len(summary) == 1 and "108 statement(s)" in summary[0] and "cell 3, cell 4" in summary[0], output
    assert "and 21 more" in summary[0] and "plt.plot" not in output
    assert "cell 31 has a syntax error on line 2: invalid syntax (lost: blur)" in output
    assert len(output) < 600, len(output)
