"""The class report: ``report.html`` with PNG plots beside it (matplotlib), from the same ``ClassStatistics``
that the terminal summary prints, built from the saved ``grading.json`` results only."""

from __future__ import annotations

import html
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course.assignments import ASSIGNMENTS, max_score
from autograder.files import write_text_atomic
from autograder.grading.checks import KNOWN_MISTAKE
from autograder.grading.results import per_question
from autograder.reports.feedback import FEEDBACK_FILE
from autograder.reports.html import page, student_html
from autograder.submission.names import feedback_link, lookalikes

REPORT_FILE = "report.html"


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
    stats = ClassStatistics(assignment=assignment, max_score=max_score(assignment))
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
        earned = [per_question(assignment, saved["tests"]).get(question, (0.0, 0.0))[0] for saved in results]
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
    rows = "".join(f"<tr><td>{student_html(saved['student'])}</td><td>{e(saved['late']['submitted_at'])}</td>"
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

    e = html.escape
    if report is None:
        return ("<h2>Similar submissions</h2>"
                + (f"<p id=\"similarity\">Not computed: {e(error)}</p>" if error else ""))
    intro = (f"<p class=\"muted\">Leads for a person to read, never a verdict: {report.compared} submissions "
             f"compared with copydetect on the code the graded functions reach, after removing what the release gave "
             f"({e(', '.join(report.boilerplate) or 'nothing found')}). A pair is listed when at least "
             f"{report.threshold:.0%} of either one's own code is found in the other. Short functions that follow "
             "the lecture closely look alike.</p>")
    skipped = ""
    if report.too_short:
        skipped += f"<p class=\"muted\">Too little code of their own to compare: {e(', '.join(report.too_short))}.</p>"
    unparsable = report.unparsable
    if report.unreadable:
        skipped += ("<p class=\"muted\">Could not be read: " + e(', '.join(
            f"{student} ({unparsable[student]})" if student in unparsable else student
            for student in report.unreadable)) + ".</p>")
    broken = {student: why for student, why in unparsable.items() if student not in report.unreadable}
    if broken:
        skipped += ("<p id=\"similarity-unparsable\">Do not parse (the grader cannot run those parts either): "
                    + "; ".join(f"{student_html(student)}: {e(why)}" for student, why in broken.items()) + ".</p>")
    if report.too_large:
        skipped += (f"<p>Too large to compare (more code than the similarity step reads; read these by hand): "
                    f"{e(', '.join(report.too_large))}.</p>")
    if report.out_of_time:
        skipped += (f"<p>Not compared, the similarity step's time ran out first: "
                    f"{e(', '.join(report.out_of_time))}.</p>")
    dynamic = report.dynamic
    if dynamic:  # leads of their own, paired or not: what such code runs is not in its text
        intro += ("<p id=\"similarity-dynamic\">Code that builds itself at run time (exec, eval, compile, marshal, "
                  "importlib or __import__ of a name, ...): what it runs cannot be compared as text, so read these "
                  "by hand:</p><ul class=\"dynamic\">" + "".join(
                      f"<li>{student_html(lead.student)}: {e('; '.join(lead.reasons[:5]))}"
                      + (f" (and {len(lead.reasons) - 5} more)" if len(lead.reasons) > 5 else "") + "</li>"
                      for lead in dynamic) + "</ul>")
    if not report.pairs:
        return f"<h2>Similar submissions</h2>{intro}<p id=\"similarity\">No pair above the threshold.</p>{skipped}"
    drawn = [pair for pair in report.pairs if pair.first_html or pair.second_html]  # the similarity step drew these
    rows = "".join(f"<tr><td class=\"number\">{index}</td><td>{student_html(pair.first)}</td><td>{student_html(pair.second)}</td>"
                   f"<td class=\"number\">{pair.similarity[0]:.0%}</td><td class=\"number\">"
                   f"{pair.similarity[1]:.0%}</td></tr>" for index, pair in enumerate(report.pairs, 1))
    views = "".join(
        f"<details class=\"pair\" id=\"pair-{index}\"><summary>{index}. {student_html(pair.first)} and {student_html(pair.second)} "
        f"({pair.similarity[0]:.0%} / {pair.similarity[1]:.0%})</summary><div class=\"side\">"
        f"<div><a href=\"{e(links.get(pair.first, '#'))}\">{student_html(pair.first)}</a><pre>{pair.first_html}</pre></div>"
        f"<div><a href=\"{e(links.get(pair.second, '#'))}\">{student_html(pair.second)}</a><pre>{pair.second_html}</pre></div>"
        f"</div></details>" for index, pair in enumerate(drawn, 1))
    more = (f"<p class=\"muted\">{report.above_threshold} pairs reach the threshold; the {len(report.pairs)} most "
            f"alike are listed, and the code of the first {len(drawn)} is shown.</p>")
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
                   f"{', '.join(student_html(s) for s, st in stats.not_ok.items() if st == status)}</td></tr>"
                   for status, count in sorted(stats.statuses.items()))
    parts.append("<h2>Statuses</h2><p class=\"muted\">timeout: the code ran too long; crashed: the worker died "
                 "(exit, memory); invalid: the file could not be read; internal-error: ours, not the student's."
                 f"</p><table id=\"statuses\"><tbody>{rows}</tbody></table>")
    parts.append(_late_section(list(results)))
    late = {saved["student"]: saved["late"] for saved in results if saved.get("late", {}).get("days_late")}
    alike = {student: [other for other in group if other != student] for group in lookalikes(
        [*stats.students, *(person.submission for person in missing)]) for student in group}
    if alike:
        groups = "".join(f"<li>{', '.join(student_html(student) for student in group)}</li>"
                         for group in lookalikes([*stats.students, *(person.submission for person in missing)]))
        parts.append("<h2>Student ids that look alike</h2><p class=\"muted\">These ids differ but print the same or "
                     "nearly (composed and decomposed accents, Latin and Cyrillic letters, hidden characters): check "
                     f"that each is the student you think.</p><ul id=\"lookalikes\">{groups}</ul>")
    rows = "".join(f"<tr><td><a href=\"{e(links.get(student, '#'))}\">{student_html(student, looks_like=alike.get(student))}</a></td>"
                   f"<td class=\"number\">{late[student]['score_after'] if student in late else total:g} / "
                   f"{stats.max_score:g}</td><td>{f'late: {total:g} before the penalty' if student in late else ''}"
                   "</td></tr>" for student, total in zip(stats.students, stats.totals))
    rows += "".join(f"<tr class=\"none\"><td>{student_html(person.submission, looks_like=alike.get(person.submission))}</td><td class=\"number\">missing</td>"
                    f"<td>{e(person.name)} ({e(person.id)}): on the roster, no submission</td></tr>"
                    for person in missing)
    parts.append(f"<h2>Students</h2><table id=\"students\"><tbody>{rows}</tbody></table>")
    parts.append(_similarity_section(similarity, similarity_error, links))
    return page(f"{stats.assignment}: class report", "\n".join(parts))


def write_class_report(out: str | Path, assignment: str, results: list[dict], *, similarity=None,
                       similarity_error: str = "", missing=(), folders: dict[str, str] | None = None) -> Path:
    """Write OUT/report.html and its PNGs; return the report's path. ``similarity``: a
    similarity.SimilarityReport; ``missing``: roster people with no submission; ``folders``: each student's folder
    under OUT where it is not ``names.folder_name`` (a clash resolved, classroom.saved.student_folder)."""
    out = Path(out)
    stats = class_statistics(assignment, results)
    plots = _plots(stats, out)
    links = {saved["student"]: feedback_link(saved["student"], FEEDBACK_FILE, (folders or {}).get(saved["student"]))
             for saved in results}
    return write_text_atomic(out / REPORT_FILE, render_report(stats, plots, links, results=results,
                                                              similarity=similarity, similarity_error=similarity_error,
                                                              missing=missing))


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
    return write_text_atomic(Path(out) / REPORT_FILE, page("Class reports", "\n".join(parts)))
