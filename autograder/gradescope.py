"""Gradescope: build an autograder zip per assignment, and the entry point that runs inside it.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once to build
its image, then for each submission runs ``run_autograder``, which grades the files in
``/autograder/submission`` and writes ``/autograder/results/results.json``
(https://gradescope-autograders.readthedocs.io/en/latest/specs/). The zip carries the
grading package, that assignment's hidden suite and the reference modules the suite
imports, and nothing else: no other assignment's suite, no notebooks, no tests.
"""

from __future__ import annotations

import argparse
import ast
import sys
import traceback
import zipfile
from pathlib import Path

from autograder.suites import ASSIGNMENTS, suite_dir

ROOT = Path(__file__).resolve().parents[1]
# The modules grading needs (grade -> load, sandbox, worker, protocol; suites -> checks, cases, mistakes,
# harness, zoo). The round-trip test grades from an unpacked zip, so a missing one fails it.
GRADING_MODULES = ["__init__", "cases", "checks", "grade", "gradescope", "harness", "load", "mistakes", "protocol",
                   "results", "sandbox", "worker", "zoo"]
REQUIREMENTS = ["torch>=2.3", "numpy", "nbformat>=5.9", "pytest>=7"]

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu).
set -euo pipefail
apt-get update -qq
# bubblewrap isolates student code; without it grading still runs, with resource limits only.
apt-get install -y -qq python3 python3-pip bubblewrap || apt-get install -y -qq python3 python3-pip
# The CPU build of torch: Gradescope has no GPU, and the CUDA wheels are gigabytes.
python3 -m pip install --quiet --index-url https://download.pytorch.org/whl/cpu torch
python3 -m pip install --quiet -r /autograder/source/requirements.txt
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission. AUTOGRADER_ROOT stands in for /autograder in tests.
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
cd "$ROOT/source" || exit 1
exec python3 -m autograder.gradescope --root "$ROOT" --assignment {assignment}
"""


def solution_modules(assignment: str) -> list[str]:
    """The ``solutions`` modules that the assignment's suite imports."""
    modules = set()
    for path in suite_dir(assignment).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("solutions."):
                modules.add(node.module.split(".")[1])
    return sorted(modules)


def zip_members(assignment: str) -> dict[str, Path]:
    """Archive name -> file on disk, for the assignment's autograder zip (scripts excluded)."""
    members = {f"autograder/{name}.py": ROOT / "autograder" / f"{name}.py" for name in GRADING_MODULES}
    suites = ROOT / "autograder" / "suites"
    for name in ("__init__.py", "conftest.py", "pytest.ini"):
        members[f"autograder/suites/{name}"] = suites / name
    for path in sorted(suite_dir(assignment).glob("*.py")):
        members[f"autograder/suites/{assignment}/{path.name}"] = path
    members["solutions/__init__.py"] = ROOT / "solutions" / "__init__.py"
    for module in solution_modules(assignment):
        members[f"solutions/{module}.py"] = ROOT / "solutions" / f"{module}.py"
    return members


def build_zip(*, assignment: str, out: str | Path) -> Path:
    """Write Gradescope's autograder zip for ``assignment`` to ``out``; return its path."""
    if assignment not in ASSIGNMENTS:
        raise KeyError(f"unknown assignment {assignment!r}; expected one of {', '.join(ASSIGNMENTS)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def add(archive: zipfile.ZipFile, name: str, text: str, executable: bool = False) -> None:
        info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))  # fixed: the same inputs give the same zip
        info.external_attr = (0o755 if executable else 0o644) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, text)

    with zipfile.ZipFile(out, "w") as archive:
        add(archive, "setup.sh", SETUP_SH, executable=True)
        add(archive, "run_autograder", RUN_AUTOGRADER.format(assignment=assignment), executable=True)
        add(archive, "requirements.txt", "\n".join(REQUIREMENTS) + "\n")
        for name, path in zip_members(assignment).items():
            add(archive, name, path.read_text())
    return out


def find_submission(folder: Path, assignment: str) -> tuple[Path | None, str]:
    """The file to grade in Gradescope's submission folder, or None and a message for the student."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".ipynb", ".py")
                   and ".ipynb_checkpoints" not in p.parts)
    for candidates in ([p for p in files if p.stem == assignment], [p for p in files if p.suffix == ".ipynb"],
                       files):
        if len(candidates) == 1 or (candidates and candidates[0].stem == assignment):
            return candidates[0], ""
        if candidates:
            break
    found = ", ".join(p.name for p in files) or "no .ipynb or .py file"
    return None, (f"Upload one notebook, named {assignment}.ipynb. Found: {found}.")


def run(*, root: str | Path, assignment: str) -> dict:
    """Grade the submission under ROOT/submission; write ROOT/results/results.json. Always writes a result."""
    from autograder.results import SubmissionResult, write_json_atomic

    root = Path(root)
    results_path = root / "results" / "results.json"
    try:
        path, problem = find_submission(root / "submission", assignment)
        if path is None:
            result = SubmissionResult(assignment=assignment, submission="", student="submission", status="invalid",
                                      message=problem)
            data = result.to_gradescope() | {"score": 0.0}
        else:
            from autograder.grade import grade_submission

            data = grade_submission(path, assignment, student_id="submission").to_gradescope()
    except Exception:  # the last resort: Gradescope must always get a results file
        traceback.print_exc()
        data = {"score": 0.0, "output": "internal grading error: the staff have been told; your score may change.",
                "visibility": "visible", "stdout_visibility": "hidden", "tests": []}
    write_json_atomic(results_path, data)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Grade a Gradescope submission (run by run_autograder).")
    parser.add_argument("--root", default="/autograder")
    parser.add_argument("--assignment", required=True, choices=sorted(ASSIGNMENTS))
    args = parser.parse_args(argv)
    data = run(root=args.root, assignment=args.assignment)
    print(f"score {data.get('score', 0):g} / {data.get('max_score', 0):g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
