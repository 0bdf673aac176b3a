"""nbgrader configuration for this course: `nbgrader generate_assignment NAME` and `autograder release` use it."""

from autograder.release import release_preprocessors

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "convolutions-to-cnns"
c.CourseDirectory.source_directory = "assignments"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".OTTER_LOG"]

# nbgrader's own stub; NameTheStubs (in the list below) then names the function in its message.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.GenerateAssignment.preprocessors = release_preprocessors()
