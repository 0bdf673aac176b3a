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
GRADING_MODULES = ["__init__", "blocks", "carried", "cases", "checks", "grade", "gradescope", "harness", "isolation",
                   "load", "mistakes", "protocol", "results", "sandbox", "worker", "zoo"]
# What grading imports beyond the standard library. setup.sh installs exactly these, pinned, with the
# versions of their dependencies, as found in the environment that builds the zip (see pinned_requirements).
GRADING_PACKAGES = ("torch", "numpy", "nbformat", "pytest")
# torch's CUDA build depends on these; the CPU build installed on Gradescope does not.
CUDA_ONLY = ("nvidia-", "cuda-", "triton")

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
# Supported base images: Gradescope's Ubuntu 22.04 and 24.04. requirements.txt pins the versions this project's
# tests ran with, and some of them need Python {minimum_text} or later: where python3 is older (Ubuntu 22.04 has
# 3.10), this installs python{minimum_text} from the image's own packages. On an image with neither it stops with a
# message, so the image build fails visibly instead of zeroing every student.
# AUTOGRADER_ROOT stands in for /autograder in tests. TORCH_INDEX_URL is where torch comes from: by default
# PyTorch's CPU wheels (Gradescope has no GPU, and the CUDA wheels are gigabytes); set empty, pip's own index
# (PyPI, or the mirror pip is configured with), by name.
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
TORCH_INDEX_URL="${{TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}}"
PYTHON=""
find_python() {{
    for candidate in python3 python3.14 python3.13 python3.12 python{minimum_text}; do
        if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys, venv, ensurepip
sys.exit(0 if sys.version_info >= {minimum} else 1)' 2>/dev/null; then
            PYTHON="$(command -v "$candidate")"; return 0
        fi
    done
    return 1
}}
if ! find_python || ! command -v bwrap >/dev/null; then
    command -v apt-get >/dev/null || {{
        echo "setup.sh: this autograder needs an Ubuntu base image (no apt-get, and no Python {minimum_text} with venv)"
        exit 1; }}
    apt-get update -qq
    find_python || apt-get install -y -qq python3 python3-venv python3-pip || true
    find_python || apt-get install -y -qq python{minimum_text} python{minimum_text}-venv || true
    find_python || {{
        echo "setup.sh: no Python {minimum_text} or later with venv here ($(python3 -V 2>&1)); the pinned packages need" \\
             "it. Use Gradescope's Ubuntu 22.04 or 24.04 image"; exit 1; }}
    # bubblewrap isolates student code; where the container refuses it namespaces, the grader falls back to
    # Landlock or a sandbox uid by itself (autograder/isolation.py), and never grades with the answers readable.
    command -v bwrap >/dev/null || apt-get install -y -qq bubblewrap || \\
        echo "setup.sh: bubblewrap not available; the grader will use its fallback"
fi
echo "setup.sh: $("$PYTHON" -V) at $PYTHON"
# A venv of its own: Ubuntu 24.04's system Python refuses pip installs (PEP 668).
"$PYTHON" -m venv "$ROOT/venv"
if [ -n "$TORCH_INDEX_URL" ]; then
    "$ROOT/venv/bin/pip" install --quiet --index-url "$TORCH_INDEX_URL" torch=={torch}
fi
"$ROOT/venv/bin/pip" install --quiet -r "$ROOT/source/requirements.txt"
"$ROOT/venv/bin/python" -c 'import torch, numpy, nbformat, pytest'
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission. AUTOGRADER_ROOT stands in for /autograder in tests.
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="$ROOT/venv/bin/python"
[ -x "$PYTHON" ] || PYTHON=python3
cd "$ROOT/source" || exit 1
exec "$PYTHON" -m autograder.gradescope --root "$ROOT" --assignment {assignment}
"""


def _requirement_closure(names: tuple[str, ...], *, cuda: bool) -> dict[str, str]:
    """Distribution name -> installed version, for ``names`` and everything they require here."""
    import importlib.metadata as metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found: dict[str, str] = {}
    queue = list(names)
    while queue:
        name = canonicalize_name(queue.pop())
        if name in found or (not cuda and name.startswith(CUDA_ONLY)):
            continue
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # a requirement for another platform or Python
        found[name] = distribution.version
        for line in distribution.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                queue.append(requirement.name)
    return dict(sorted(found.items()))


def minimum_python() -> tuple[int, int]:
    """The oldest Python 3 that every pinned distribution accepts (their Requires-Python): numpy 2.4 and others
    need 3.11, so Ubuntu 22.04's python3 (3.10) cannot install requirements.txt."""
    import importlib.metadata as metadata

    from packaging.specifiers import SpecifierSet

    needs = [SpecifierSet(metadata.distribution(name).metadata.get("Requires-Python") or "")
             for name in _requirement_closure(GRADING_PACKAGES, cuda=False)]
    for minor in range(8, 30):
        if all(f"3.{minor}.0" in need or f"3.{minor}.99" in need for need in needs):
            return 3, minor
    raise RuntimeError("no Python 3 release satisfies every pinned requirement's Requires-Python")


def pinned_requirements() -> list[str]:
    """requirements.txt: every package grading needs and their dependencies, pinned to the versions that the
    project's own tests ran with (torch's CUDA-only dependencies left out: Gradescope gets the CPU build)."""
    return [f"{name}=={version.split('+')[0]}" for name, version in
            _requirement_closure(GRADING_PACKAGES, cuda=False).items()]


def link_grading_environment(venv: Path) -> list[str]:
    """Put into ``venv``'s site-packages exactly the distributions setup.sh installs (the CUDA ones too when the
    local torch is the CUDA build), hard-linked from this environment: a clean interpreter for the tests'
    imitation of Gradescope, without copying gigabytes. Returns the distributions linked."""
    import importlib.metadata as metadata
    import os
    import shutil

    closure = _requirement_closure(GRADING_PACKAGES, cuda=True)
    target = next(venv.glob("lib/python3*/site-packages"))
    tops = set()
    for name in closure:
        distribution = metadata.distribution(name)
        for file in distribution.files or []:
            top = file.parts[0]
            if top not in ("..", "__pycache__") and not top.endswith(".pth"):
                tops.add((Path(distribution.locate_file(top)), top))
    for source, top in sorted(tops):
        destination = target / top
        if destination.exists() or not source.exists():
            continue
        if source.is_dir():
            try:  # hard links keep each file's own mode, and our folders are 0755: any uid can read them
                shutil.copytree(source, destination, copy_function=os.link, symlinks=True)
            except OSError:
                shutil.rmtree(destination, ignore_errors=True)
                destination.symlink_to(source)  # another file system: link the folder itself
        else:
            shutil.copy2(source, destination)
    return list(closure)


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
        torch_version = _requirement_closure(("torch",), cuda=False)["torch"].split("+")[0]
        minimum = minimum_python()
        setup = SETUP_SH.format(torch=torch_version, minimum=minimum, minimum_text=".".join(map(str, minimum)))
        add(archive, "setup.sh", setup, executable=True)
        add(archive, "run_autograder", RUN_AUTOGRADER.format(assignment=assignment), executable=True)
        add(archive, "requirements.txt", "\n".join(pinned_requirements()) + "\n")
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


NOT_GRADED = ("NOT GRADED: the autograder could not run safely on this machine, so your submission was received but "
              "not scored. This is not a problem with your code: the course staff must fix the autograder and "
              "regrade.")


def run(*, root: str | Path, assignment: str) -> dict:
    """Grade the submission under ROOT/submission; write ROOT/results/results.json. Always writes a result.

    Student code never sees ROOT/source (the grader, the suite, the reference), ROOT/results or the upload
    folder, under whichever isolation works in this container (autograder.isolation).
    """
    from autograder.results import write_json_atomic

    root = Path(root)
    results_path = root / "results" / "results.json"
    try:
        from autograder.results import SubmissionResult
        from autograder.sandbox import Isolation, default_isolation

        path, problem = find_submission(root / "submission", assignment)
        if path is None:
            result = SubmissionResult(assignment=assignment, submission="", student="submission", status="invalid",
                                      message=problem)
            data = result.to_gradescope() | {"score": 0.0}
        else:
            from autograder.grade import grade_submission

            base = default_isolation()
            confinement = Isolation(extra_hidden=(ROOT, root / "results", root / "submission"), uid=base.uid,
                                    modes=base.modes)
            result = grade_submission(path, assignment, student_id="submission", isolation=confinement)
            data = result.to_gradescope()
            if result.status == "internal-error":
                data["output"] = "NOT FULLY GRADED: " + data["output"]
            print(f"isolation: {result.isolation}")
    except Exception as error:  # the last resort: Gradescope must always get a results file
        data = _not_graded(error)
    write_json_atomic(results_path, data)
    return data


def _not_graded(error: Exception) -> dict:
    """A results.json that says, where the student looks first, that nothing was scored and why."""
    if type(error).__name__ == "IsolationUnavailable":  # by name: the import itself may be what failed
        print(error, file=sys.stderr)
        detail = f"For the staff: {error}"
    else:
        traceback.print_exc()
        detail = "(internal grading error; the traceback is in the autograder's log)"
    return {"score": 0.0, "output": f"{NOT_GRADED}\n\n{detail}", "visibility": "visible",
            "stdout_visibility": "hidden", "tests": []}


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
