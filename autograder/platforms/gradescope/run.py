"""What Gradescope runs for each submission (``run_autograder`` calls ``python -m
autograder.platforms.gradescope.run``): grade ``/autograder/submission``, write ``/autograder/results/results.json``.

A results file is always written, from the last ``except`` too: a student never sees Gradescope's "autograder
failed" page, and never a silent 0 (https://gradescope-autograders.readthedocs.io/en/latest/specs/).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from autograder.course.assignments import ASSIGNMENTS, PROJECT_ROOT
from autograder.files import write_json_atomic

NOT_GRADED = ("NOT GRADED: the autograder could not run safely on this machine, so your submission was received but "
              "not scored. This is not a problem with your code: the course staff must fix the autograder and "
              "regrade.")


def run(*, root: str | Path, assignment: str) -> dict:
    """Grade the submission under ROOT/submission; write ROOT/results/results.json. Always writes a result.

    Student code never sees ROOT/source (the grader, the suite, the reference), ROOT/results or the upload
    folder, under whichever isolation works in this container (autograder.sandbox.isolation).
    """
    root = Path(root)
    results_path = root / "results" / "results.json"
    try:
        from autograder.grading.results import SubmissionResult
        from autograder.sandbox.isolation import default_isolation
        from autograder.submission.load import find_submission_file

        path, problem = find_submission_file(root / "submission", assignment, recursive=True)
        if path is None:
            result = SubmissionResult.failed(assignment=assignment, submission="", student="submission",
                                             status="invalid", message=problem)
            data = result.to_gradescope()
        else:
            from autograder.grading.grade import grade_submission

            confinement = default_isolation(extra_hidden=(PROJECT_ROOT, root / "results", root / "submission"))
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
