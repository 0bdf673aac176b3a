"""Gradescope: build an autograder zip per assignment (``run.py`` is the entry point that runs inside it).

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once to build
its image, then for each submission runs ``run_autograder``, which grades the files in
``/autograder/submission`` and writes ``/autograder/results/results.json``
(https://gradescope-autograders.readthedocs.io/en/latest/specs/). The zip carries the
grading package, that assignment's hidden suite and the reference modules the suite
imports, and nothing else: no other assignment's suite, no notebooks, no tests.
"""

from __future__ import annotations

import ast
import re
import zipfile
from pathlib import Path

from autograder.course.assignments import ASSIGNMENTS, PROJECT_ROOT, suite_dir

ROOT = PROJECT_ROOT
# What grading one submission needs of the package: the layers from the worker up to grading, and this platform's
# entry point (never the classroom, reports or the other platforms). The round-trip test grades from an unpacked
# zip, so a missing module fails it.
GRADING_SUBPACKAGES = ("worker", "sandbox", "submission", "grading", "course")
GRADING_FILES = ("__init__.py", "files.py", "platforms/__init__.py", "platforms/gradescope/__init__.py",
                 "platforms/gradescope/run.py")
# What grading imports beyond the standard library. setup.sh installs exactly these, pinned, with the
# versions of their dependencies, as found in the environment that builds the zip (see pinned_requirements).
GRADING_PACKAGES = ("torch", "numpy", "nbformat", "pytest", "pyseccomp")
# torch's CUDA build depends on these; the CPU build installed on Gradescope does not.
CUDA_ONLY = ("nvidia-", "cuda-", "triton")


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
    package = ROOT / "autograder"
    members = {f"autograder/{name}": package / name for name in GRADING_FILES}
    for subpackage in GRADING_SUBPACKAGES:
        for path in sorted((package / subpackage).glob("*.py")):
            members[f"autograder/{subpackage}/{path.name}"] = path
    suites = ROOT / "autograder" / "suites"
    for name in ("__init__.py", "conftest.py", "pytest.ini"):
        members[f"autograder/suites/{name}"] = suites / name
    for path in sorted(suite_dir(assignment).glob("*.py")):
        members[f"autograder/suites/{assignment}/{path.name}"] = path
    members["solutions/__init__.py"] = ROOT / "solutions" / "__init__.py"
    for module in solution_modules(assignment):
        members[f"solutions/{module}.py"] = ROOT / "solutions" / f"{module}.py"
    return members


TEMPLATES = Path(__file__).parent  # setup.sh and run_autograder, with @NAME@ placeholders


def render(template: str, **values: str) -> str:
    """A template file with each ``@NAME@`` replaced; a placeholder left unfilled is a bug, so it raises."""
    text = (TEMPLATES / template).read_text()
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    if re.search(r"@[A-Z_]+@", text):
        raise ValueError(f"{template}: unfilled placeholder {re.search(r'@[A-Z_]+@', text).group()}")
    return text


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
        setup = render("setup.sh", TORCH_VERSION=torch_version, MINIMUM_PYTHON=".".join(map(str, minimum)),
                       MINIMUM_PYTHON_TUPLE=str(minimum))
        add(archive, "setup.sh", setup, executable=True)
        add(archive, "run_autograder", render("run_autograder", ASSIGNMENT=assignment), executable=True)
        add(archive, "requirements.txt", "\n".join(pinned_requirements()) + "\n")
        for name, path in zip_members(assignment).items():
            add(archive, name, path.read_text())
    return out
