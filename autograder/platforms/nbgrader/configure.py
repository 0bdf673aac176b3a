"""The one call a course's ``nbgrader_config.py`` makes (through ``autograder.nbgrader_plugin``)."""

from __future__ import annotations

from autograder.platforms.nbgrader.preprocessor import autograde_preprocessors
from autograder.platforms.nbgrader.release import release_preprocessors


def configure_course(c) -> None:
    """The one call a course's nbgrader_config.py needs: ``configure_course(get_config())``."""
    c.Autograde.autograde_preprocessors = autograde_preprocessors()
    c.GenerateAssignment.preprocessors = release_preprocessors()
    # nbgrader's own stub; NameTheStubs (in release_preprocessors) then names the function in its message.
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    # The course notebooks train small networks: a training cell takes 10-30 s on 2 cores, nbgrader's default
    # per-cell limit for `nbgrader validate` is 30 s. Five minutes leaves room on a slow machine.
    c.Execute.timeout = 300


