"""The name an instructor's ``nbgrader_config.py`` imports: ``from autograder.nbgrader_plugin import
configure_course``. It stays importable under this name whatever the package's layout; the code lives in
``autograder.platforms.nbgrader``."""

from autograder.platforms.nbgrader.configure import configure_course
from autograder.platforms.nbgrader.preprocessor import GradeInSandbox

__all__ = ["GradeInSandbox", "configure_course"]
