"""Command-line entry point. Thin: it parses arguments and calls library functions."""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from autograder.suites import ASSIGNMENTS


def grade_main(*, path: str, assignment: str, json_out: str | None = None, call_timeout: float = 10.0) -> int:
    """Grade one file, print a per-question table, optionally write Gradescope results.json."""
    from rich.console import Console
    from rich.table import Table

    from autograder.grade import grade_submission
    from autograder.results import write_json_atomic
    from autograder.sandbox import Limits

    if not Path(path).is_file():
        print(f"autograder: {path} is not a file", file=sys.stderr)
        return 2
    result = grade_submission(path, assignment, limits=Limits(call_timeout_s=call_timeout))
    console = Console(highlight=False)
    table = Table(title=f"{result.student} — {assignment} ({result.status}, {result.duration_s:.1f} s)")
    table.add_column("question")
    table.add_column("points", justify="right")
    for question, (earned, possible) in result.per_question().items():
        table.add_row(question, f"{earned:g} / {possible:g}")
    table.add_row("[bold]total[/bold]", f"[bold]{result.score:g} / {result.max_score:g}[/bold]")
    console.print(table)
    for test in result.tests:
        if test.status not in ("passed", "skipped"):
            console.print(f"[red]✗[/red] {test.question}: {test.name}\n  " + test.message.replace("\n", "\n  "),
                          markup=False)
    if result.message:
        console.print(result.message, markup=False)
    if result.skipped_content:
        console.print(f"Not run while grading: {len(result.skipped_content)} item(s), e.g. "
                      f"{result.skipped_content[0]}", markup=False)
    if json_out:
        write_json_atomic(json_out, result.to_gradescope())
        console.print(f"wrote {json_out}")
    return 1 if result.status == "internal-error" else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autograder",
        description="Grade submissions for the course unit 'from convolutions to convolutional networks'.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    grade = commands.add_parser("grade", help="grade a notebook (.ipynb) or script (.py) for one assignment")
    grade.add_argument("path", help="the submission: a .ipynb or .py file")
    grade.add_argument("--assignment", "-a", required=True, choices=sorted(ASSIGNMENTS))
    grade.add_argument("--json", dest="json_out", metavar="OUT", help="write Gradescope results.json here")
    grade.add_argument("--timeout", dest="call_timeout", type=float, default=10.0, metavar="S",
                       help="seconds allowed per call into the student's code (default 10)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    options = {key: value for key, value in vars(args).items() if key != "command"}
    try:
        return {"grade": grade_main}[args.command](**options)
    except KeyboardInterrupt:
        return 130
    except Exception:
        print("internal grading error (not a problem with the submission):", file=sys.stderr)
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
