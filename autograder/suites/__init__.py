"""The hidden suites: one folder per assignment, one ``test_<question>.py`` per question.

They sit above ``autograder.grading`` (they import its checks, harness and cases) and are run by it through
pytest, by path: nothing below them imports a suite. The manifest of questions and totals is
``autograder.course.assignments``.
"""
