"""Command-line entry point. Thin: it parses arguments and calls library functions."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from autograder.course.assignments import ASSIGNMENTS
from autograder.sandbox.isolation import IsolationUnavailable
from autograder.sandbox.limits import CALL_TIMEOUT_S, WALL_CAP_FACTOR, Limits
from autograder.submission.names import shown


def grade_main(*, path: str, assignment: str, json_out: str | None = None, call_timeout: float = CALL_TIMEOUT_S,
               questions: list[str] | None = None) -> int:
    """Grade one file, print a per-question table, optionally write Gradescope results.json."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from autograder.grading.grade import grade_submission
    from autograder.files import write_json_atomic

    if not Path(path).is_file():
        print(f"autograder: {path} is not a file", file=sys.stderr)
        return 2
    result = grade_submission(path, assignment, limits=Limits(call_timeout_s=call_timeout), questions=questions)
    console = Console(highlight=False)
    table = Table(title=f"{result.student} — {assignment} ({result.status}, {result.duration_s:.1f} s)")
    table.add_column("question")
    table.add_column("points", justify="right")
    for question, (earned, possible) in result.per_question().items():
        table.add_row(question, f"{earned:g} / {possible:g}")
    table.add_row("[bold]total[/bold]", f"[bold]{result.score:g} / {result.max_score:g}[/bold]")
    console.print(table)
    for test in result.tests:
        if test.status not in ("passed", "skipped"):  # Text, not markup: a message quotes code like x[i, j]
            console.print(Text("✗ ", style="red") + Text(f"{test.question}: {test.name}\n  "
                                                         + test.message.replace("\n", "\n  ")))
        elif test.status == "passed" and test.message:  # a note, e.g. graded with the student's own helper
            console.print(Text("· ", style="dim") + Text(f"{test.question}: {test.message}"))
    if result.message:
        console.print(result.message, markup=False)
    if result.skipped_content:
        console.print(f"Not run while grading: {len(result.skipped_content)} item(s), e.g. "
                      f"{result.skipped_content[0]}", markup=False)
    if json_out:
        write_json_atomic(json_out, result.to_gradescope())
        console.print(f"wrote {json_out}")
    return 1 if result.status == "internal-error" else 0


class _Refused(Exception):
    """A class run refused before grading: the message for the TA, and the exit code."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def grade_class_main(*, submissions: str, assignment: str, out: str, workers: int | None = None,
                     call_timeout: float = CALL_TIMEOUT_S, force: bool = False, nbgrader: bool = False,
                     scheduler: str | None = None, students: list[str] | None = None, roster: str | None = None,
                     late: dict | None = None, similarity: bool = True) -> int:
    """Grade a class into OUT with a progress bar; print the summary table; optionally fill nbgrader's gradebook.

    ``roster``: a roster CSV (classroom.roster); ``late``: the keyword arguments of
    classroom.late.policy_from_options, or None."""
    from rich.console import Console

    console = Console(highlight=False)
    try:
        roster, late = _class_options(submissions, assignment, roster, late, nbgrader)
        summary = _grade_with_progress(console, submissions=submissions, assignment=assignment, out=out,
                                       workers=workers, limits=Limits(call_timeout_s=call_timeout), force=force,
                                       scheduler=scheduler, students=students, roster=roster, late=late,
                                       similarity=similarity)
        print_class_summary(console, summary, out)
        if nbgrader:
            _write_back_to_nbgrader(console, submissions, assignment, out, summary)
    except _Refused as refusal:
        console.print(f"autograder: {refusal}", markup=False)
        return refusal.code
    if summary.interrupted:
        console.print("Interrupted: finished students are saved; run the same command again to grade the rest.")
        return 128 + int(summary.stop_signal)
    return 1 if summary.statuses().get("internal-error") else 0


def _class_options(submissions: str, assignment: str, roster: str | None, late: dict | None, nbgrader: bool):
    """The roster and late policy to grade with, read and checked before anything is graded; raises _Refused."""
    from autograder.classroom.late import LatePolicyError, policy_from_options
    from autograder.classroom.roster import Roster, RosterError
    from autograder.platforms.nbgrader.course import CourseError, is_course

    if nbgrader and late:
        raise _Refused("--due with --nbgrader: nbgrader applies the course's LateSubmissionPlugin to these grades; "
                       "set the late policy there (see the README), or grade without --nbgrader")
    try:
        roster = Roster.read(roster) if roster else None
        late = policy_from_options(**late) if late else None
    except (RosterError, LatePolicyError) as error:
        raise _Refused(str(error)) from None
    if nbgrader and not is_course(submissions):
        raise _Refused(f"--nbgrader needs an nbgrader course folder (nbgrader_config.py and submitted/); "
                       f"{submissions} is not one")
    if nbgrader:
        from autograder.platforms.nbgrader.writeback import nbgrader_late_policy

        try:  # before any grading: a course that would trust a kernel's output is refused (checked in there),
            # then nbgrader's due date and penalty, so that every file here shows the number `nbgrader export` shows
            late = nbgrader_late_policy(submissions, assignment)
        except CourseError as error:
            raise _Refused(str(error)) from None
    return roster, late


def _grade_with_progress(console, **options):
    """grade_class with a progress bar; raises _Refused for a class that cannot be graded as asked (2) and for a
    lost scheduler or workers that cannot sandbox (3)."""
    from rich.markup import escape
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    from autograder.classroom.batch import SubmissionLayoutError, discover, grade_class
    from autograder.classroom.dask_cluster import SchedulerLost, WorkerCannotSandbox
    from autograder.classroom.late import LatePolicyError
    from autograder.classroom.roster import RosterError

    assignment, out = options["assignment"], options["out"]
    try:
        total = len(discover(options["submissions"], assignment))
    except SubmissionLayoutError as error:
        raise _Refused(str(error)) from None
    columns = (TextColumn("grading {task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(assignment, total=total)

        def advance(done, total_count, row):
            bar.update(task, completed=done, description=escape(f"{assignment}: {shown(row['student'])} "
                                                                f"{row['total']:g}/{row['max_score']:g}"))

        try:
            summary = grade_class(progress=advance, **options)
        except (SubmissionLayoutError, RosterError, LatePolicyError) as error:
            raise _Refused(str(error)) from None
        except (SchedulerLost, WorkerCannotSandbox) as error:
            raise _Refused(f"{error.args[0]}\nEvery result received is saved in {out} (gradebook.csv and report.html "
                           "cover them); run the same command again, with a working scheduler and workers, to grade "
                           "the rest.", code=3) from None
        bar.update(task, completed=summary.skipped + summary.graded_now)
    return summary


def _write_back_to_nbgrader(console, submissions: str, assignment: str, out: str, summary) -> None:
    from autograder.platforms.nbgrader.course import CourseError
    from autograder.platforms.nbgrader.writeback import autograde_course

    try:
        done = autograde_course(course_root=submissions, assignment=assignment, results_directory=out,
                                students=[saved["student"] for saved in summary.results])
    except CourseError as error:
        raise _Refused(str(error)) from None
    console.print(f"nbgrader: autograded {len(done)} students ({assignment}) from these results; formgrader, "
                  "`nbgrader export` and `nbgrader generate_feedback` now show them.", markup=False)


def print_class_summary(console, summary, out) -> None:
    """The numbers of OUT/report.html (the same ClassStatistics), as a terminal table."""
    from rich.table import Table

    from autograder.classroom.late import show_time

    from autograder.reports.class_report import class_statistics

    stats = class_statistics(summary.assignment, summary.results)
    table = Table(title=f"{summary.assignment}: {len(summary.results)} students graded "
                        f"({summary.graded_now} now, {summary.skipped} already done)")
    table.add_column("")
    table.add_column("value", justify="right")
    for label, value in stats.summary_rows():
        table.add_row(label, value)
    console.print(table, markup=False)
    chosen = summary.settings
    if chosen is not None and chosen.reused:
        console.print(f"used the {' and the '.join(chosen.reused)} saved in {out}/class.json by an earlier run",
                      markup=False)
    if summary.renamed:
        console.print(f"note: {len(summary.renamed)} student id(s) are not plain folder names (a path, a link, a "
                      "name the grader uses in OUT, odd characters), so their results are in a folder of their own: "
                      + "; ".join(f"{shown(student)} -> {out}/{folder}/" for student, folder in summary.renamed),
                      markup=False)
    if summary.lookalikes:
        console.print(f"warning: {len(summary.lookalikes)} group(s) of student ids look alike (accents composed and "
                      "decomposed, Latin and Cyrillic letters, hidden characters; see report.html): "
                      + "; ".join(" and ".join(map(shown, group)) for group in summary.lookalikes)
                      + ". Check that each is the student you think.", markup=False)
    if summary.missing:
        console.print(f"warning: {len(summary.missing)} student(s) on the roster have no submission: "
                      f"{', '.join(f'{shown(p.name)} ({shown(p.submission)})' for p in summary.missing)}. They are 'missing' in the "
                      "gradebook (an empty score, not 0).", markup=False)
    if chosen is not None and chosen.late:
        late = [saved for saved in summary.results if saved.get("late", {}).get("days_late")]
        console.print(f"late policy: due {show_time(chosen.late.due)}, {chosen.late.penalty.describe()}; "
                      f"{len(late)} late submission(s)"
                      + "".join(f"\n  {shown(saved['student'])}: {saved['late']['days_late']} started day(s) late, "
                                f"{saved['late']['score_before']:g} -> {saved['late']['score_after']:g}"
                                for saved in late), markup=False)
    if summary.similarity is not None and summary.similarity.pairs:
        top = summary.similarity.pairs[:3]
        console.print(f"similarity: {summary.similarity.above_threshold} pair(s) above "
                      f"{summary.similarity.threshold:.0%} (leads to read in report.html, not verdicts), most alike: "
                      + "; ".join(f"{shown(p.first)} and {shown(p.second)} "
                                  f"({p.similarity[0]:.0%}/{p.similarity[1]:.0%})" for p in top), markup=False)
    if summary.similarity is not None and (summary.similarity.too_large or summary.similarity.out_of_time):
        console.print("similarity: not compared, read by hand: "
                      + ", ".join(map(shown, summary.similarity.too_large + summary.similarity.out_of_time))
                      + " (too large, or the step's time ran out; see report.html)", markup=False)
    if summary.similarity is not None and summary.similarity.dynamic:
        console.print("similarity: code that builds itself at run time, not comparable as text (leads of their own "
                      "to read in report.html, not verdicts): "
                      + "; ".join(f"{shown(lead.student)} ({lead.reasons[0]}"
                                  + (f", and {len(lead.reasons) - 1} more" if len(lead.reasons) > 1 else "") + ")"
                                  for lead in summary.similarity.dynamic), markup=False)
    if summary.similarity is not None and summary.similarity.unparsable:
        console.print("similarity: does not parse or cannot be read: "
                      + "; ".join(f"{shown(student)}: {why}" for student, why in summary.similarity.unparsable.items()),
                      markup=False)
    if summary.similarity_error:
        console.print(f"similarity report not made: {summary.similarity_error}", markup=False)
    console.print(f"gradebook: {out}/gradebook.csv; report: {out}/report.html; per student: "
                  f"{out}/<student>/feedback.html and results.json")


def release_main(*, assignments: list[str] | None = None, course: str | None = None) -> int:
    """Generate the release of each assignment with nbgrader, scan it for leaks, and list what a student gets.

    ``course``: an nbgrader course folder (default: the current folder when it is one, else this checkout).
    """
    from rich.console import Console

    from autograder.platforms.nbgrader.release import ROOT, ReleaseError, release

    console = Console(highlight=False)
    if course is None:
        course = "." if Path("nbgrader_config.py").is_file() else str(ROOT)
    if not Path(course, "nbgrader_config.py").is_file():
        console.print(f"autograder release: {course} has no nbgrader_config.py; give an nbgrader course folder",
                      markup=False)
        return 2
    try:
        reports = release(assignments=assignments, course_root=course)
    except ReleaseError as error:
        console.print(f"autograder release: {error}", markup=False)
        return 1
    for report in reports:
        if report.source_copied:
            console.print(f"  copied the source of {report.assignment} to {report.source_copied}", markup=False)
        console.print(f"[bold]{report.assignment}[/bold] -> {report.folder}: {', '.join(report.files)}")
        for helper in report.helpers_updated:
            console.print(f"  updated {helper} from the package", markup=False)
    console.print("No solution code, hidden tests or staff paths found in the released files.")
    return 0


def check_main(*, notebook: str, assignment: str | None = None) -> int:
    """Run a notebook's public checks from the terminal; exit 1 when one fails."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from autograder.submission.load import SubmissionError
    from autograder.platforms.selfcheck import assignment_for, definitions, find_tests_dir, run_checks

    console = Console(highlight=False)
    path = Path(notebook)
    try:
        assignment = assignment_for(path, assignment)
        tests_dir = find_tests_dir(path, assignment)
        env, errors = definitions(path, assignment)
    except (ValueError, FileNotFoundError, SubmissionError) as error:
        console.print(f"autograder check: {error}", markup=False)
        return 2
    for error in errors:
        console.print(Text("while loading: ", style="yellow") + Text(str(error)))
    checks = run_checks(env, assignment, tests_dir)
    table = Table(title=f"{path.name}: public checks ({assignment})")
    table.add_column("question")
    table.add_column("public check")
    table.add_column("points it protects", justify="right")
    table.add_column("hidden tests weigh", justify="right")
    totals = ASSIGNMENTS[assignment]
    for check in checks:
        table.add_row(check.question, "[green]passed[/green]" if check.passed else "[red]failed[/red]",
                      f"{check.points:g} of {totals[check.question]:g}", f"{totals[check.question] - check.points:g}")
    console.print(table)
    for check in checks:
        for message in check.messages:  # Text, not markup: the message quotes code like expected[i, j]
            console.print(Text(f"✗ {check.question}", style="red") + Text("\n  " + message.replace("\n", "\n  ")))
    passed = sum(check.passed for check in checks)
    protected, total = sum(check.points for check in checks), sum(totals[check.question] for check in checks)
    console.print(f"{passed} of {len(checks)} public checks pass. Together they protect {protected:g} of the "
                  f"{total:g} points: a passing check keeps the points it protects, and hidden tests weigh the other "
                  f"{total - protected:g}.", markup=False)
    return 0 if passed == len(checks) else 1


def gradescope_main(*, assignment: str, out: str) -> int:
    """Build Gradescope's autograder zip for one assignment."""
    from autograder.platforms.gradescope.build import build_zip, zip_members

    path = build_zip(assignment=assignment, out=out)
    print(f"wrote {path}: setup.sh, run_autograder, requirements.txt and {len(zip_members(assignment))} source files "
          f"(the grading package, the {assignment} suite and the solutions it imports). Upload it as the "
          "assignment's autograder on Gradescope.")
    return 0


def export_main(*, out: str, fmt: str, output: str | None = None, column: str | None = None) -> int:
    """Write a graded class's scores in a format an LMS imports."""
    from autograder.classroom.gradebook import export
    from autograder.classroom.roster import RosterError

    try:
        path, students, missing = export(out, fmt, output, column)
    except RosterError as error:
        print(f"autograder export: {error}", file=sys.stderr)
        return 2
    print(f"wrote {path}: {students} students ({missing} missing, with an empty score), {fmt} format")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autograder",
        description="Grade submissions for the course unit 'from convolutions to convolutional networks'.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    grade = commands.add_parser("grade", help="grade one submission, or a whole class with --out")
    grade.add_argument("path", metavar="SUBMISSIONS",
                       help="a .ipynb/.py file, a folder of them (student id = file stem), or an nbgrader course "
                            "with submitted/<student>/<assignment>/")
    grade.add_argument("--out", help="grade into this folder: gradebook.csv and <student>/results.json "
                                     "(required for a folder)")
    grade.add_argument("--workers", type=int, default=None, help="students graded in parallel (default: cores)")
    grade.add_argument("--force", action="store_true", help="regrade students that already have a result")
    grade.add_argument("--student", dest="students", action="append", metavar="ID",
                       help="regrade only this student (repeatable); the others' results are kept")
    grade.add_argument("--scheduler", metavar="ADDRESS",
                       help="grade a class on this Dask scheduler's workers (tcp://host:8786; default: "
                            "$AUTOGRADER_SCHEDULER, else a local pool)")
    grade.add_argument("--roster", metavar="CSV", help="map submission names to LMS ids and names (columns "
                       "submission,id,name; optional sis_user_id,sis_login_id,section,email); kept in OUT/class.json")
    grade.add_argument("--due", metavar="TIME", help="due date, ISO 8601 (2026-11-20 23:59 is UTC; or "
                       "2026-11-20T23:59+01:00); needs a submission time per student (nbgrader's timestamp.txt or "
                       "--submitted-at)")
    grade.add_argument("--late-penalty", default="none", metavar="RULE",
                       help="none (lateness shown only), zero, or a percentage of the score per started day late, "
                            "e.g. 10%% (with --due; default none)")
    grade.add_argument("--late-cap", type=float, metavar="PERCENT", help="most a percentage penalty takes "
                                                                         "(default 100)")
    grade.add_argument("--extensions", metavar="CSV", help="per-student due dates: columns student,due (a time) "
                                                           "or student,days (added to --due)")
    grade.add_argument("--submitted-at", metavar="CSV", help="submission times: columns student,submitted_at "
                                                             "(else nbgrader's timestamp.txt; never file mtimes)")
    grade.add_argument("--no-similarity", action="store_true", help="leave the similarity report out of report.html")
    grade.add_argument("--nbgrader", action="store_true",
                       help="SUBMISSIONS is an nbgrader course: also write the scores into its gradebook database")
    grade.add_argument("--assignment", "-a", required=True, choices=sorted(ASSIGNMENTS))
    grade.add_argument("--json", dest="json_out", metavar="OUT", help="write Gradescope results.json here")
    grade.add_argument("--question", "-q", dest="questions", action="append", metavar="NAME",
                       help="grade only this question (repeatable; a single file only)")
    grade.add_argument("--timeout", dest="call_timeout", type=float, default=CALL_TIMEOUT_S, metavar="S",
                       help=f"seconds of CPU time allowed per call into the student's code (default "
                            f"{CALL_TIMEOUT_S:g}; {WALL_CAP_FACTOR:g} times that on the clock)")
    release = commands.add_parser("release", help="generate the student version of assignments with nbgrader")
    # With nargs="*", argparse checks the empty default ([]) against choices too, hence the [] among them.
    release.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", choices=[[]] + sorted(ASSIGNMENTS),
                         help=f"default: all ({', '.join(ASSIGNMENTS)})")
    release.add_argument("--course", metavar="DIR", help="an nbgrader course to release into (default: the current "
                                                         "folder if it is one, else this checkout)")
    gradescope = commands.add_parser("gradescope", help="build a Gradescope autograder zip for an assignment")
    gradescope.add_argument("--assignment", "-a", required=True, choices=sorted(ASSIGNMENTS))
    gradescope.add_argument("--out", help="default: autograder_ASSIGNMENT.zip")
    export = commands.add_parser("export", help="write a graded class's scores for Canvas, Moodle or a spreadsheet")
    export.add_argument("out", metavar="OUT", help="the --out folder of `autograder grade`")
    export.add_argument("--format", dest="fmt", required=True, choices=["canvas", "moodle", "csv"])
    export.add_argument("--output", "-o", metavar="FILE", help="default: OUT/<assignment>-<format>.csv")
    export.add_argument("--column", metavar="NAME", help="the score column's header: the assignment's name in the "
                        "LMS, e.g. 'Homework 3 (4521)' as Canvas's own export heads it (default: the assignment)")
    check = commands.add_parser("check", help="run a notebook's public checks from the terminal")
    check.add_argument("notebook", metavar="NOTEBOOK")
    check.add_argument("--assignment", "-a", choices=sorted(ASSIGNMENTS),
                       help="default: the notebook's file name (e.g. convolution.ipynb)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "release":
            return release_main(assignments=args.assignments or None, course=args.course)
        if args.command == "gradescope":
            return gradescope_main(assignment=args.assignment, out=args.out or f"autograder_{args.assignment}.zip")
        if args.command == "check":
            return check_main(notebook=args.notebook, assignment=args.assignment)
        if args.command == "export":
            return export_main(out=args.out, fmt=args.fmt, output=args.output, column=args.column)
        late_options = [name for name in ("late_cap", "extensions", "submitted_at") if getattr(args, name)]
        if args.late_penalty != "none":
            late_options.append("late_penalty")
        if late_options and not args.due:
            parser.error(f"--{late_options[0].replace('_', '-')} needs --due")
        late = (dict(due=args.due, penalty=args.late_penalty, cap=args.late_cap, extensions=args.extensions,
                     submitted_at=args.submitted_at) if args.due else None)
        if args.command == "grade" and (args.out or Path(args.path).is_dir()):
            if not args.out:
                parser.error("grading a folder needs --out DIR")
            if args.json_out:
                parser.error("--json is for a single file; with --out each student gets DIR/<student>/results.json")
            if args.questions:
                parser.error("--question is for a single file; a class is graded on every question")
            return grade_class_main(submissions=args.path, assignment=args.assignment, out=args.out,
                                    workers=args.workers, call_timeout=args.call_timeout, force=args.force,
                                    nbgrader=args.nbgrader, students=args.students, roster=args.roster,
                                    late=late, similarity=not args.no_similarity,
                                    scheduler=args.scheduler or os.environ.get("AUTOGRADER_SCHEDULER") or None)
        if args.nbgrader:
            parser.error("--nbgrader grades a course folder: give the folder and --out DIR")
        if args.students:
            parser.error("--student regrades students of a class: give the folder and --out DIR")
        if args.roster or late:
            parser.error("--roster and --due are for a class: give the folder and --out DIR")
        if args.scheduler:
            parser.error("--scheduler grades a class: give a folder and --out DIR")
        unknown = sorted(set(args.questions or ()) - set(ASSIGNMENTS[args.assignment]))
        if unknown:
            parser.error(f"{args.assignment} has no question {', '.join(unknown)}; "
                         f"choose from {', '.join(ASSIGNMENTS[args.assignment])}")
        return grade_main(path=args.path, assignment=args.assignment, json_out=args.json_out,
                          call_timeout=args.call_timeout, questions=args.questions)
    except KeyboardInterrupt:
        return 130
    except IsolationUnavailable as refusal:
        print(f"autograder: {refusal}", file=sys.stderr)
        return 2
    except Exception:
        print("internal grading error (not a problem with the submission):", file=sys.stderr)
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
