"""nbgrader configuration for this course: `nbgrader generate_assignment NAME` and `autograder release` use it."""

from autograder.nbgrader_plugin import configure_course

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "convolutions-to-cnns"
c.CourseDirectory.source_directory = "assignments"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".OTTER_LOG"]

# nbgrader autograde (and formgrader's Autograde button) grade in autograder's sandbox, never in a kernel;
# the release names each stub's function. See autograder/nbgrader_plugin.py.
configure_course(c)
