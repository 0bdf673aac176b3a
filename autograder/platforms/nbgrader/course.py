"""An nbgrader course folder and its configuration: found, loaded, and refused when it would trust a kernel.

A course grades in our sandbox through one call in its ``nbgrader_config.py`` (``configure_course``, in
``platforms.nbgrader.configure``); every command that uses a course checks that it does (``require_sandboxed``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from autograder.platforms.nbgrader.preprocessor import GradeInSandbox


class CourseError(RuntimeError):
    """The folder is not an nbgrader course ready for this command."""


def is_course(folder: str | Path) -> bool:
    folder = Path(folder)
    return (folder / "nbgrader_config.py").is_file() and (folder / "submitted").is_dir()


def load_course_config(course_root: Path):
    from traitlets.config.loader import PyFileConfigLoader

    config_file = course_root / "nbgrader_config.py"
    if not config_file.exists():
        raise CourseError(f"{course_root} has no nbgrader_config.py: run this from the course repository")
    return PyFileConfigLoader(config_file.name, path=str(course_root)).load_config()


def uses_sandboxed_autograde(config) -> bool:
    """Whether a loaded nbgrader configuration grades through GradeInSandbox (and never through a kernel)."""
    from nbgrader.preprocessors import Execute

    steps = list(config.Autograde.get("autograde_preprocessors", []))
    return GradeInSandbox in steps and Execute not in steps


COURSE_CONFIG_LINES = ("from autograder.nbgrader_plugin import configure_course\n"
                       "configure_course(c)  # c = get_config(): nbgrader autograde grades in autograder's sandbox")


def put_scripts_on_path() -> None:
    """nbgrader runs the `alembic` command to set up its database: find the one beside this Python even when
    the virtual environment is not activated (`.venv/bin/autograder release`)."""
    scripts = str(Path(sys.executable).parent)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")


def require_sandboxed(config, course_root: Path, error: type[Exception]) -> None:
    """Raise ``error`` unless the course's nbgrader autograde grades in the sandbox: a kernel that ran the student's
    notebook would let a student set their own score."""
    if not uses_sandboxed_autograde(config):
        raise error(f"{course_root / 'nbgrader_config.py'} lets `nbgrader autograde` run student notebooks in a kernel "
                    "and trust their output, so a student could set their own score. Add these two lines to it, then "
                    f"run again:\n\n{COURSE_CONFIG_LINES}\n")
