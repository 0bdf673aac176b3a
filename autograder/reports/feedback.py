"""A student's feedback page: one self-contained HTML file (inline CSS, no scripts, no network), built from the
saved ``grading.json`` result only. It shows the score, a row per question, each failing test's message and the
student's own traceback or output, and what was skipped; never the hidden tests' code, the reference code or the
grader's paths."""

from __future__ import annotations

import html
from pathlib import Path

from autograder.files import write_text_atomic
from autograder.grading.results import per_question
from autograder.reports.html import page, scrub, student_html

FEEDBACK_FILE = "feedback.html"

def _row_class(earned: float, possible: float) -> str:
    return "full" if possible and earned == possible else "partial" if earned > 0 else "none"


def render_feedback(saved: dict) -> str:
    """One student's feedback page, from their saved result."""
    e = html.escape
    student, assignment = saved["student"], saved["assignment"]
    score, max_score = saved.get("score", 0.0), saved.get("max_score", 0.0)
    late = saved.get("late")
    shown = late["score_after"] if late else score
    parts = [f"<h1>{e(assignment)}: feedback for {student_html(student)}</h1>",
             f"<p class=\"score\" id=\"total\">{shown:g} / {max_score:g}</p>",
             f"<p><span class=\"status\" id=\"status\">status: {e(saved['status'])}</span> "
             f"<span class=\"muted\">submission {student_html(Path(saved.get('submission', '')).name)}</span></p>"]
    if late:
        parts.append(_late_note(late, max_score))
    if saved.get("message"):
        parts.append(f"<p>{e(scrub(saved['message']))}</p>")
    rows = "".join(
        f"<tr class=\"{_row_class(earned, possible)}\" data-question=\"{e(question)}\"><td>{e(question)}</td>"
        f"<td class=\"number\">{earned:g} / {possible:g}</td><td>"
        f"{'full marks' if possible and earned == possible else 'some points' if earned > 0 else 'no points'}"
        f"</td></tr>" for question, (earned, possible) in per_question(saved["assignment"], saved["tests"]).items())
    parts.append("<h2>Questions</h2><table id=\"questions\"><thead><tr><th>question</th>"
                 f"<th class=\"number\">points</th><th>result</th></tr></thead><tbody>{rows}</tbody></table>")
    failing = [test for test in saved["tests"] if test["status"] in ("failed", "error")]
    if failing:
        parts.append("<h2>What to fix</h2>")
        for test in failing:
            printed = (f"<p class=\"muted\">What your code printed during this test:</p><pre>"
                       f"{e(scrub(test['output']))}</pre>" if test.get("output") else "")
            parts.append(f"<div class=\"failure\"><h3>{e(test['question'])}: {e(test['name'])} "
                         f"<span class=\"muted\">({test['score']:g} / {test['max_score']:g})</span></h3>"
                         f"<pre>{e(scrub(test['message']))}</pre>{printed}</div>")
    passed = [test for test in saved["tests"] if test["status"] == "passed"]
    if passed:
        items = "".join(f"<li>{e(test['question'])}: {e(test['name'])} ({test['score']:g})"
                        + (f"<br><span class=\"muted\">{e(scrub(test['message']))}</span>" if test.get("message")
                           else "") + "</li>" for test in passed)
        parts.append(f"<details><summary>Passed tests ({len(passed)})</summary><ul>{items}</ul></details>")
    skipped_tests = [test for test in saved["tests"] if test["status"] == "skipped"]
    if skipped_tests:
        items = "".join(f"<li>{e(test['name'])}: {e(test['message'])}</li>" for test in skipped_tests)
        parts.append(f"<h2>Not run on this machine</h2><ul>{items}</ul>")
    if saved.get("load_errors"):
        items = "".join(f"<li><pre>{e(scrub(error))}</pre></li>" for error in saved["load_errors"])
        parts.append(f"<h2>Errors while loading your code</h2><ul>{items}</ul>")
    skipped = saved.get("skipped_content") or []
    parts.append("<h2>Not run while grading</h2>")
    if skipped:
        items = "".join(f"<li>{e(item)}</li>" for item in skipped)
        parts.append("<p class=\"muted\">Only functions, classes, and the imports and constants they use are "
                     f"graded. These parts of your notebook were skipped:</p><ul id=\"skipped\">{items}</ul>")
    else:
        parts.append("<p class=\"muted\" id=\"skipped\">Nothing: every statement was needed by a graded "
                     "definition.</p>")
    parts.append("<p class=\"muted\">Each message says what was checked; the hidden tests' code is not shown.</p>")
    return page(f"{assignment}: {student}", "\n".join(parts))


def _late_note(late: dict, max_score: float) -> str:
    """When the work came in and what lateness cost: the score before and after the penalty."""
    e = html.escape
    due = f"{e(late['due'])}{' (your extension)' if late['extended'] else ''}"
    if not late["days_late"]:
        return (f"<p id=\"late\" class=\"muted\">Submitted {e(late['submitted_at'])}, on time (due {due}).</p>")
    # A started day counts whole (one minute late is one day), so "2 days and 10 hours" is 3 started days.
    days = f"{late['days_late']} started day{'s' if late['days_late'] != 1 else ''}"
    return (f"<div id=\"late\" class=\"failure\"><p><strong>Late by {days}</strong>: submitted "
            f"{e(late['submitted_at'])}, due {due}. Penalty: {late['penalty_percent']:g}% of the score.</p>"
            f"<p>Before the penalty: {late['score_before']:g} / {max_score:g}. After: "
            f"<strong>{late['score_after']:g} / {max_score:g}</strong>.</p></div>")


def write_feedback(folder: str | Path, saved: dict) -> Path:
    """Write the student's page; an unchanged page is left as it is (a rerun touches no one else's files)."""
    return write_text_atomic(Path(folder) / FEEDBACK_FILE, render_feedback(saved), unchanged_ok=True)
