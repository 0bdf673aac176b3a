"""The package's layers hold: `lint-imports` (run by `make test`) keeps them, and it notices when they break."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120)


@pytest.fixture
def tree(tmp_path):
    """A copy of what the contracts read: the packages, the custom contract and pyproject.toml."""
    for name in ("autograder", "solutions", "lint"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_contracts_are_kept():
    checked = lint(ROOT)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "3 kept, 0 broken" in checked.stdout


@pytest.mark.parametrize("module, planted, broken", [
    # an upward import: the sandbox reaching into grading
    ("autograder/sandbox/limits.py", "from autograder.grading import results",
     "autograder.sandbox is not allowed to import autograder.grading"),
    # a cycle between layers, made from the bottom: the worker importing the sandbox that launches it
    ("autograder/worker/serve.py", "import autograder.sandbox.channel",
     "autograder.worker is not allowed to import autograder.sandbox"),
    # the worker's allow-list: a library it does not need inside the sandbox
    ("autograder/worker/blocks.py", "import scipy", "autograder.worker.blocks imports scipy"),
    # a reference solution that leans on the grader
    ("solutions/convolution.py", "import autograder.files", "solutions is not allowed to import autograder"),
])
def test_a_planted_import_breaks_a_contract(tree, module, planted, broken):
    with open(tree / module, "a") as file:
        file.write(f"\n{planted}  # planted by the test\n")
    checked = lint(tree)
    assert checked.returncode != 0
    assert broken in " ".join(checked.stdout.split()), checked.stdout


SUITE_MAY_IMPORT = ("autograder.grading", "autograder.sandbox", "autograder.course", "autograder.worker",
                    "autograder.suites", "solutions")


def grader_imports(path: Path) -> set[str]:
    """The modules of this project that a file imports (anywhere in it, functions included)."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] in ("autograder", "solutions")}


def test_the_suites_import_only_the_layers_below_them():
    # import-linter cannot see the suites (pytest loads their folders by path), so this holds them to the layers
    suites = sorted((ROOT / "autograder" / "suites").rglob("*.py"))
    assert len(suites) > 20
    upward = {f"{path.relative_to(ROOT)}: {name}" for path in suites for name in grader_imports(path)
              if not name.startswith(SUITE_MAY_IMPORT)}
    assert not upward


def test_the_suite_check_sees_an_upward_import(tmp_path):
    planted = tmp_path / "test_planted.py"
    planted.write_text("def test():\n    from autograder.classroom import batch\n")
    assert grader_imports(planted) == {"autograder.classroom"}
    assert not "autograder.classroom".startswith(SUITE_MAY_IMPORT)
