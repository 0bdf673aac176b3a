"""What graded results look like to people: a feedback page per student, a report per class.

Both are built from the saved ``grading.json`` results only. A feedback page is one
self-contained HTML file (inline CSS, no scripts, no network). It shows the student's
score, a row per question, each failing test's message and the student's own
traceback or output, and what was skipped; never the hidden tests' code, the
reference code or the grader's paths. The class report is ``report.html`` with PNG
plots beside it (matplotlib), from the same ``ClassStatistics`` that the terminal
summary prints.

HTML is written with the standard library's ``html.escape``: a template engine
would be one more dependency for two small pages.
"""

from __future__ import annotations

import html
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from autograder.checks import KNOWN_MISTAKE
from autograder.names import feedback_link
from autograder.suites import ASSIGNMENTS

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FEEDBACK_FILE = "feedback.html"
REPORT_FILE = "report.html"

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 60rem;
       padding: 0 1rem; color: #1f2328; line-height: 1.45; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
.score { font-size: 2.4rem; font-weight: 700; margin: .5rem 0; }
.status { display: inline-block; padding: .1rem .6rem; border-radius: 1rem; background: #eef; font-size: .9rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #d0d7de; vertical-align: top; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
tr.full td:first-child { border-left: 4px solid #1a7f37; } tr.partial td:first-child { border-left: 4px solid #bf8700; }
tr.none td:first-child { border-left: 4px solid #cf222e; }
pre { background: #f6f8fa; padding: .6rem; overflow-x: auto; white-space: pre-wrap; font-size: .85rem; }
.failure { border: 1px solid #d0d7de; border-radius: .4rem; padding: .2rem .8rem; margin: .8rem 0; }
.muted { color: #59636e; font-size: .9rem; } img { max-width: 100%; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: .6rem; } .side pre { font-size: .75rem; }
mark { background: #ffd8a8; }
"""


def _scrub(text: str) -> str:
    """Remove the grader's own paths from a message (a student must not learn where the suites live)."""
    return text.replace(str(PROJECT_ROOT) + "/", "").replace(str(PROJECT_ROOT), "")


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")


def diagnoses(message: str) -> list[str]:
    """The known mistakes a test message names, each cut to its short name ("a flipped kernel (...)")."""
    found = []
    for line in message.splitlines():
        if line.startswith(KNOWN_MISTAKE):
            for name in line[len(KNOWN_MISTAKE):].split("; "):
                short = re.split(r"\. |: ", name, maxsplit=1)[0].strip().rstrip(".")
                if short and short not in found:
                    found.append(short)
    return found


def per_question(saved: dict) -> dict[str, tuple[float, float]]:
    totals = {question: [0.0, 0.0] for question in ASSIGNMENTS.get(saved["assignment"], {})}
    for test in saved["tests"]:
        earned, possible = totals.setdefault(test["question"], [0.0, 0.0])
        totals[test["question"]] = [earned + test["score"], possible + test["max_score"]]
    return {question: (earned, possible) for question, (earned, possible) in totals.items()}


def _row_class(earned: float, possible: float) -> str:
    return "full" if possible and earned == possible else "partial" if earned > 0 else "none"


def render_feedback(saved: dict) -> str:
    """One student's feedback page, from their saved result."""
    e = html.escape
    student, assignment = saved["student"], saved["assignment"]
    score, max_score = saved.get("score", 0.0), saved.get("max_score", 0.0)
    late = saved.get("late")
    shown = late["score_after"] if late else score
    parts = [f"<h1>{e(assignment)}: feedback for {e(student)}</h1>",
             f"<p class=\"score\" id=\"total\">{shown:g} / {max_score:g}</p>",
             f"<p><span class=\"status\" id=\"status\">status: {e(saved['status'])}</span> "
             f"<span class=\"muted\">submission {e(Path(saved.get('submission', '')).name)}</span></p>"]
    if late:
        parts.append(_late_note(late, max_score))
    if saved.get("message"):
        parts.append(f"<p>{e(_scrub(saved['message']))}</p>")
    rows = "".join(
        f"<tr class=\"{_row_class(earned, possible)}\" data-question=\"{e(question)}\"><td>{e(question)}</td>"
        f"<td class=\"number\">{earned:g} / {possible:g}</td><td>"
        f"{'full marks' if possible and earned == possible else 'some points' if earned > 0 else 'no points'}"
        f"</td></tr>" for question, (earned, possible) in per_question(saved).items())
    parts.append("<h2>Questions</h2><table id=\"questions\"><thead><tr><th>question</th>"
                 f"<th class=\"number\">points</th><th>result</th></tr></thead><tbody>{rows}</tbody></table>")
    failing = [test for test in saved["tests"] if test["status"] in ("failed", "error")]
    if failing:
        parts.append("<h2>What to fix</h2>")
        for test in failing:
            printed = (f"<p class=\"muted\">What your code printed during this test:</p><pre>"
                       f"{e(_scrub(test['output']))}</pre>" if test.get("output") else "")
            parts.append(f"<div class=\"failure\"><h3>{e(test['question'])}: {e(test['name'])} "
                         f"<span class=\"muted\">({test['score']:g} / {test['max_score']:g})</span></h3>"
                         f"<pre>{e(_scrub(test['message']))}</pre>{printed}</div>")
    passed = [test for test in saved["tests"] if test["status"] == "passed"]
    if passed:
        items = "".join(f"<li>{e(test['question'])}: {e(test['name'])} ({test['score']:g})"
                        + (f"<br><span class=\"muted\">{e(_scrub(test['message']))}</span>" if test.get("message")
                           else "") + "</li>" for test in passed)
        parts.append(f"<details><summary>Passed tests ({len(passed)})</summary><ul>{items}</ul></details>")
    skipped_tests = [test for test in saved["tests"] if test["status"] == "skipped"]
    if skipped_tests:
        items = "".join(f"<li>{e(test['name'])}: {e(test['message'])}</li>" for test in skipped_tests)
        parts.append(f"<h2>Not run on this machine</h2><ul>{items}</ul>")
    if saved.get("load_errors"):
        items = "".join(f"<li><pre>{e(_scrub(error))}</pre></li>" for error in saved["load_errors"])
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
    return _page(f"{assignment}: {student}", "\n".join(parts))


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
    path = Path(folder) / FEEDBACK_FILE
    page = render_feedback(saved)
    try:
        if path.read_text() == page:
            return path
    except OSError:
        pass
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(page)
    temporary.replace(path)
    return path


@dataclass
class TestStatistic:
    question: str
    name: str
    public: bool
    passed: int = 0
    graded: int = 0

    @property
    def rate(self) -> float:
        return self.passed / self.graded if self.graded else 0.0


@dataclass
class ClassStatistics:
    """Numbers about one class and assignment; the terminal summary and report.html both print these."""

    assignment: str
    students: list[str] = field(default_factory=list)
    totals: list[float] = field(default_factory=list)
    max_score: float = 0.0
    full_marks: dict[str, float] = field(default_factory=dict)     # question -> share of students
    mean_points: dict[str, float] = field(default_factory=dict)    # question -> mean points
    tests: list[TestStatistic] = field(default_factory=list)
    mistakes: Counter = field(default_factory=Counter)             # short name -> students
    statuses: Counter = field(default_factory=Counter)
    not_ok: dict[str, str] = field(default_factory=dict)           # student -> status, for timeouts etc.

    def summary_rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs, formatted once for both the terminal and the report."""
        if not self.totals:
            return [("students", "0")]
        rows = [("students", str(len(self.totals))),
                ("mean score", f"{statistics.mean(self.totals):.2f} / {self.max_score:g}"),
                ("median score", f"{statistics.median(self.totals):g} / {self.max_score:g}")]
        rows += [(f"full marks: {question}", f"{share:.0%}") for question, share in self.full_marks.items()]
        rows += [(f"status {status}", str(count)) for status, count in sorted(self.statuses.items())]
        rows += [(f"mistake: {name}", str(count)) for name, count in self.mistakes.most_common(5)]
        return rows


def class_statistics(assignment: str, results: list[dict]) -> ClassStatistics:
    """Statistics over saved results (one dict per student, as in ``grading.json``)."""
    stats = ClassStatistics(assignment=assignment, max_score=float(sum(ASSIGNMENTS[assignment].values())))
    by_test: dict[str, TestStatistic] = {}
    for saved in results:
        stats.students.append(saved["student"])
        # The total a student gets, after any late penalty: the gradebook's and the export's number.
        stats.totals.append(saved["late"]["score_after"] if saved.get("late") else saved.get("score", 0.0))
        stats.statuses[saved["status"]] += 1
        if saved["status"] != "ok":
            stats.not_ok[saved["student"]] = saved["status"]
        seen = set()
        for test in saved["tests"]:
            if test["status"] == "skipped" or not test["max_score"]:
                continue
            key = f"{test['question']}::{test['test_id']}"
            stat = by_test.setdefault(key, TestStatistic(test["question"], test["name"],
                                                         test.get("visibility") == "visible"))
            stat.graded += 1
            stat.passed += test["status"] == "passed"
            seen.update(diagnoses(test.get("message", "")))
        stats.mistakes.update(seen)
    for question, points in ASSIGNMENTS[assignment].items():
        earned = [per_question(saved).get(question, (0.0, 0.0))[0] for saved in results]
        stats.full_marks[question] = sum(value == points for value in earned) / len(results) if results else 0.0
        stats.mean_points[question] = statistics.mean(earned) if earned else 0.0
    order = list(ASSIGNMENTS[assignment])
    stats.tests = sorted(by_test.values(), key=lambda t: (order.index(t.question) if t.question in order else 99))
    return stats


def _plots(stats: ClassStatistics, out: Path) -> dict[str, str]:
    """Draw the report's PNGs into ``out``; return {purpose: file name}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = {}
    figure, axis = plt.subplots(figsize=(7, 3.2))
    bins = [x - 0.5 for x in range(int(stats.max_score) + 2)]
    axis.hist(stats.totals, bins=bins, color="#4c72b0", edgecolor="white")
    axis.set_xlabel(f"total score (out of {stats.max_score:g})")
    axis.set_ylabel("students")
    axis.set_title(f"{stats.assignment}: totals of {len(stats.totals)} students")
    axis.yaxis.get_major_locator().set_params(integer=True)
    figure.tight_layout()
    figure.savefig(out / "totals.png", dpi=110)
    plt.close(figure)
    files["totals"] = "totals.png"

    labels = [f"{t.question}: {t.name}" for t in stats.tests]
    rates = [100 * t.rate for t in stats.tests]
    colours = ["#1a7f37" if rate >= 75 else "#bf8700" if rate >= 40 else "#cf222e" for rate in rates]
    files["tests"] = _percent_bars(plt, out / "tests.png", labels, rates, colours, width=9, fontsize=7,
                                   xlabel="students who pass (%)", title=f"{stats.assignment}: pass rate per test")
    questions = list(stats.full_marks)
    files["questions"] = _percent_bars(plt, out / "questions.png", questions,
                                       [100 * stats.full_marks[q] for q in questions], "#4c72b0", width=7,
                                       fontsize=9, xlabel="students with full marks (%)",
                                       title=f"{stats.assignment}: full marks per question")
    return files


def _percent_bars(plt, path: Path, labels, values, colours, *, width, fontsize, xlabel, title) -> str:
    """A horizontal bar chart of percentages, first label on top; return the file name."""
    figure, axis = plt.subplots(figsize=(width, (0.32 if fontsize < 9 else 0.45) * len(labels) + 1.2))
    axis.barh(range(len(labels)), values, color=colours)
    axis.set_yticks(range(len(labels)), [label if len(label) <= 70 else label[:67] + "..." for label in labels],
                    fontsize=fontsize)
    axis.invert_yaxis()
    axis.set_xlim(0, 100)
    axis.set_xlabel(xlabel)
    axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110, bbox_inches="tight")  # long labels: grow the canvas to fit them
    plt.close(figure)
    return path.name


def _late_section(results: list[dict]) -> str:
    e = html.escape
    late = [saved for saved in results if saved.get("late")]
    if not late:
        return ""
    rows = "".join(f"<tr><td>{e(saved['student'])}</td><td>{e(saved['late']['submitted_at'])}</td>"
                   f"<td>{e(saved['late']['due'])}{' (extension)' if saved['late']['extended'] else ''}</td>"
                   f"<td class=\"number\">{saved['late']['days_late']}</td>"
                   f"<td class=\"number\">{saved['late']['penalty_percent']:g}%</td>"
                   f"<td class=\"number\">{saved['late']['score_before']:g}</td>"
                   f"<td class=\"number\">{saved['late']['score_after']:g}</td></tr>"
                   for saved in sorted(late, key=lambda saved: -saved["late"]["days_late"])
                   if saved["late"]["days_late"])
    on_time = sum(not saved["late"]["days_late"] for saved in late)
    return ("<h2>Late work</h2>"
            f"<p class=\"muted\">{on_time} of {len(late)} on time. The statistics and plots of this report use the "
            "scores before the penalty; the Students table below and the gradebook's total are after it.</p>"
            + (f"<table id=\"late\"><thead><tr><th>student</th><th>submitted</th><th>due</th>"
               "<th class=\"number\">started days late</th><th class=\"number\">penalty</th>"
               "<th class=\"number\">before</th><th class=\"number\">after</th></tr></thead>"
               f"<tbody>{rows}</tbody></table>" if rows else "<p id=\"late\">Nobody was late.</p>"))


def _similarity_section(report, error: str, links: dict[str, str]) -> str:
    """Pairs above the threshold, most alike first, side by side with the shared code marked. The page stays
    light for a large class: one table row per pair, code only for the first pairs, in closed details."""
    from autograder.similarity import SHOWN_PAIRS

    e = html.escape
    if report is None:
        return ("<h2>Similar submissions</h2>"
                + (f"<p id=\"similarity\">Not computed: {e(error)}</p>" if error else ""))
    intro = (f"<p class=\"muted\">Leads for a person to read, never a verdict: {report.compared} submissions "
             f"compared with copydetect on the code the grader keeps, after removing what the release gave "
             f"({e(', '.join(report.boilerplate) or 'nothing found')}). A pair is listed when at least "
             f"{report.threshold:.0%} of either one's own code is found in the other. Short functions that follow "
             "the lecture closely look alike.</p>")
    skipped = ""
    if report.too_short:
        skipped += f"<p class=\"muted\">Too little code of their own to compare: {e(', '.join(report.too_short))}.</p>"
    if report.unreadable:
        skipped += f"<p class=\"muted\">Could not be read: {e(', '.join(report.unreadable))}.</p>"
    if report.too_large:
        skipped += (f"<p>Too large to compare (more code than the similarity step reads; read these by hand): "
                    f"{e(', '.join(report.too_large))}.</p>")
    if report.out_of_time:
        skipped += (f"<p>Not compared, the similarity step's time ran out first: "
                    f"{e(', '.join(report.out_of_time))}.</p>")
    if not report.pairs:
        return f"<h2>Similar submissions</h2>{intro}<p id=\"similarity\">No pair above the threshold.</p>{skipped}"
    rows = "".join(f"<tr><td class=\"number\">{index}</td><td>{e(pair.first)}</td><td>{e(pair.second)}</td>"
                   f"<td class=\"number\">{pair.similarity[0]:.0%}</td><td class=\"number\">"
                   f"{pair.similarity[1]:.0%}</td></tr>" for index, pair in enumerate(report.pairs, 1))
    views = "".join(
        f"<details class=\"pair\" id=\"pair-{index}\"><summary>{index}. {e(pair.first)} and {e(pair.second)} "
        f"({pair.similarity[0]:.0%} / {pair.similarity[1]:.0%})</summary><div class=\"side\">"
        f"<div><a href=\"{e(links.get(pair.first, '#'))}\">{e(pair.first)}</a><pre>{pair.first_html}</pre></div>"
        f"<div><a href=\"{e(links.get(pair.second, '#'))}\">{e(pair.second)}</a><pre>{pair.second_html}</pre></div>"
        f"</div></details>" for index, pair in enumerate(report.pairs[:SHOWN_PAIRS], 1))
    more = (f"<p class=\"muted\">{report.above_threshold} pairs reach the threshold; the {len(report.pairs)} most "
            f"alike are listed, and the code of the first {min(SHOWN_PAIRS, len(report.pairs))} is shown.</p>")
    return ("<h2>Similar submissions</h2>" + intro + "<table id=\"similarity\"><thead><tr><th>#</th><th>student</th>"
            "<th>student</th><th class=\"number\">of the first's code</th><th class=\"number\">of the second's "
            f"code</th></tr></thead><tbody>{rows}</tbody></table>{more}{skipped}{views}")


def render_report(stats: ClassStatistics, plots: dict[str, str], links: dict[str, str], *, results=(),
                  similarity=None, similarity_error: str = "", missing=()) -> str:
    e = html.escape
    parts = [f"<h1>{e(stats.assignment)}: class report</h1>"]
    summary = "".join(f"<tr><td>{e(label)}</td><td class=\"number\">{e(value)}</td></tr>"
                      for label, value in stats.summary_rows())
    parts.append(f"<table id=\"summary\"><tbody>{summary}</tbody></table>")
    parts.append(f"<h2>Totals</h2><img src=\"{plots['totals']}\" alt=\"histogram of total scores\">")
    rows = "".join(f"<tr><td>{e(q)}</td><td class=\"number\">{stats.mean_points[q]:.2f} / {points}</td>"
                   f"<td class=\"number\">{stats.full_marks[q]:.0%}</td></tr>"
                   for q, points in ASSIGNMENTS[stats.assignment].items())
    parts.append("<h2>Questions</h2><table id=\"question-rates\"><thead><tr><th>question</th>"
                 "<th class=\"number\">mean points</th><th class=\"number\">full marks</th></tr></thead>"
                 f"<tbody>{rows}</tbody></table><img src=\"{plots['questions']}\" alt=\"full marks per question\">")
    rows = "".join(f"<tr class=\"{'full' if t.rate >= .75 else 'partial' if t.rate >= .4 else 'none'}\">"
                   f"<td>{e(t.question)}</td><td>{e(t.name)}</td><td>{'public' if t.public else 'hidden'}</td>"
                   f"<td class=\"number\">{t.passed} / {t.graded}</td></tr>"
                   for t in sorted(stats.tests, key=lambda t: t.rate))
    parts.append("<h2>Tests, hardest first</h2><p class=\"muted\">A test that almost nobody passes may be a "
                 "badly worded question.</p><table id=\"test-rates\"><thead><tr><th>question</th><th>test</th>"
                 f"<th>kind</th><th class=\"number\">passed</th></tr></thead><tbody>{rows}</tbody></table>"
                 f"<img src=\"{plots['tests']}\" alt=\"pass rate per test\">")
    if stats.mistakes:
        rows = "".join(f"<tr><td>{e(name)}</td><td class=\"number\">{count}</td></tr>"
                       for name, count in stats.mistakes.most_common())
        parts.append("<h2>Most common diagnosed mistakes</h2><table id=\"mistakes\"><thead><tr><th>mistake</th>"
                     f"<th class=\"number\">students</th></tr></thead><tbody>{rows}</tbody></table>")
    else:
        parts.append("<h2>Most common diagnosed mistakes</h2><p id=\"mistakes\">None diagnosed.</p>")
    rows = "".join(f"<tr><td>{e(status)}</td><td class=\"number\">{count}</td><td>"
                   f"{e(', '.join(s for s, st in stats.not_ok.items() if st == status))}</td></tr>"
                   for status, count in sorted(stats.statuses.items()))
    parts.append("<h2>Statuses</h2><p class=\"muted\">timeout: the code ran too long; crashed: the worker died "
                 "(exit, memory); invalid: the file could not be read; internal-error: ours, not the student's."
                 f"</p><table id=\"statuses\"><tbody>{rows}</tbody></table>")
    parts.append(_late_section(list(results)))
    late = {saved["student"]: saved["late"] for saved in results if saved.get("late", {}).get("days_late")}
    rows = "".join(f"<tr><td><a href=\"{e(links.get(student, '#'))}\">{e(student)}</a></td>"
                   f"<td class=\"number\">{late[student]['score_after'] if student in late else total:g} / "
                   f"{stats.max_score:g}</td><td>{f'late: {total:g} before the penalty' if student in late else ''}"
                   "</td></tr>" for student, total in zip(stats.students, stats.totals))
    rows += "".join(f"<tr class=\"none\"><td>{e(person.submission)}</td><td class=\"number\">missing</td>"
                    f"<td>{e(person.name)} ({e(person.id)}): on the roster, no submission</td></tr>"
                    for person in missing)
    parts.append(f"<h2>Students</h2><table id=\"students\"><tbody>{rows}</tbody></table>")
    parts.append(_similarity_section(similarity, similarity_error, links))
    return _page(f"{stats.assignment}: class report", "\n".join(parts))


def write_class_report(out: str | Path, assignment: str, results: list[dict], *, similarity=None,
                       similarity_error: str = "", missing=()) -> Path:
    """Write OUT/report.html and its PNGs; return the report's path. ``similarity``: a
    similarity.SimilarityReport; ``missing``: roster people with no submission."""
    out = Path(out)
    stats = class_statistics(assignment, results)
    plots = _plots(stats, out)
    links = {saved["student"]: feedback_link(saved["student"], FEEDBACK_FILE) for saved in results}
    path = out / REPORT_FILE
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(render_report(stats, plots, links, results=results, similarity=similarity,
                                       similarity_error=similarity_error, missing=missing))
    temporary.replace(path)
    return path


def write_index(out: str | Path, reports: dict[str, list[dict]]) -> Path:
    """OUT/report.html linking the class report of each assignment graded under OUT/<assignment>/."""
    e = html.escape
    parts = ["<h1>Class reports</h1>"]
    for assignment, results in reports.items():
        stats = class_statistics(assignment, results)
        rows = "".join(f"<tr><td>{e(label)}</td><td class=\"number\">{e(value)}</td></tr>"
                       for label, value in stats.summary_rows())
        parts.append(f"<h2><a href=\"{e(assignment)}/{REPORT_FILE}\">{e(assignment)}</a></h2>"
                     f"<table data-assignment=\"{e(assignment)}\"><tbody>{rows}</tbody></table>")
    path = Path(out) / REPORT_FILE
    path.write_text(_page("Class reports", "\n".join(parts)))
    return path
