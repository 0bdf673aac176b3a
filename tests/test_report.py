"""Feedback pages and the class report: content, no leaks, a real browser, and agreement with the terminal."""

import ast
import html
import re
import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from autograder.platforms.nbgrader.release import reference_fragments
from autograder.reports.class_report import class_statistics, diagnoses
from autograder.reports.feedback import render_feedback
from autograder.course.assignments import ASSIGNMENTS, SUITES_DIR
from submissions import SOLUTIONS, stub_source, with_replacements
from submissions.catalogue import CATALOGUE

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "submissions" / "convolution"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A small convolution class graded through the CLI: what it printed, and the output folder."""
    folder = tmp_path_factory.mktemp("class")
    shutil.copy(SOLUTIONS / "convolution.py", folder / "alice.py")
    flipped = next(m for m in CATALOGUE if m.name == "flipped_kernel")
    (folder / "bob.py").write_text(with_replacements("convolution", flipped.replacements, flipped.extra))
    (folder / "carol.py").write_text(stub_source("convolution"))
    shutil.copy(EXAMPLES / "hostile_reads_the_solutions.py", folder / "mallory.py")
    shutil.copy(EXAMPLES / "hostile_patches_the_grader.py", folder / "trudy.py")
    out = tmp_path_factory.mktemp("grades")
    capture = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", str(folder), "-a",
                              "convolution", "--out", str(out)], capture_output=True, text=True,
                             env=os.environ | {"COLUMNS": "200"}, timeout=600)
    assert capture.returncode == 0, capture.stdout + capture.stderr
    return capture.stdout, out


def saved(out, student):
    return json.loads((out / student / "grading.json").read_text())


def staff_only_lines():
    """Lines that must never reach a student: reference bodies and the hidden suites' code."""
    lines = [line for assignment in ASSIGNMENTS for body in reference_fragments(assignment).values() for line in body]
    for path in SUITES_DIR.rglob("test_*.py"):
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef):
                body = node.body[1:] if isinstance(node.body[0], ast.Expr) else node.body  # docstrings are the names
                for statement in body:
                    lines += [line.strip() for line in ast.get_source_segment(source, statement).splitlines()
                              if len(line.strip()) >= 30]
    return lines


def test_does_every_student_get_a_feedback_page_with_score_rows_and_what_was_skipped(graded):
    _, out = graded
    for student in ("alice", "bob", "carol", "mallory", "trudy"):
        page = (out / student / "feedback.html").read_text()
        result = saved(out, student)
        assert f"{result['score']:g} / {result['max_score']:g}" in page
        for question in ASSIGNMENTS["convolution"]:
            assert f'data-question="{question}"' in page
        assert 'id="skipped"' in page
    bob = (out / "bob" / "feedback.html").read_text()
    assert "a flipped kernel (a true convolution)" in bob and "What to fix" in bob
    mallory = (out / "mallory" / "feedback.html").read_text()
    assert "Your traceback:" in mallory and "mallory.py" in mallory  # the student's own traceback


def test_does_no_generated_page_show_reference_code_hidden_tests_or_grader_paths(graded):
    _, out = graded
    forbidden = staff_only_lines()
    assert len(forbidden) > 100
    pages = list(out.rglob("*.html"))
    assert len(pages) == 6
    for page in pages:
        text = page.read_text()
        if page.name == "report.html":
            # The TA's similarity section shows what students submitted (one of them submitted the reference):
            # each code view must be a submission's own text, and the rest of the page holds no staff line.
            views = re.findall(r"<pre>(.*?)</pre>", text.split("<h2>Similar submissions</h2>")[1], re.DOTALL)
            submitted = {line for path in out.parent.glob("class*/*.py") for line in path.read_text().splitlines()}
            shown = {line for view in views for line in html.unescape(re.sub("</?mark>", "", view)).splitlines()}
            assert views and shown <= submitted | {""}, shown - submitted
            text = re.sub(r"<details class=\"pair\".*?</details>", "", text, flags=re.DOTALL)
        text = html.unescape(text)
        leaks = [line for line in forbidden if line in text]
        assert not leaks, (page, leaks[:3])
        for path in (str(ROOT), "solutions/", "autograder/suites", "def test_"):
            assert path not in text, (page, path)


def test_is_a_page_escaped_so_student_output_cannot_inject_markup():
    result = {"student": "eve", "assignment": "convolution", "status": "ok", "score": 0, "max_score": 11,
              "submission": "eve.py", "tests": [{"name": "n", "question": "apply_convolution", "test_id": "t",
                                                 "score": 0, "max_score": 1, "status": "failed",
                                                 "message": "<script>alert(1)</script>", "output": "<img src=x>",
                                                 "visibility": "visible"}],
              "skipped_content": ["cell 3: `<b>`"], "load_errors": []}
    page = render_feedback(result)
    assert "<script>" not in page and "<img" not in page and "&lt;script&gt;" in page


def test_does_the_report_show_histogram_pass_rates_mistakes_and_statuses(graded):
    _, out = graded
    report = (out / "report.html").read_text()
    for png in ("totals.png", "questions.png", "tests.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f'src="{png}"' in report
    assert 'id="test-rates"' in report and 'id="question-rates"' in report
    assert "a flipped kernel (a true convolution)" in report
    statuses = {saved(out, s)["status"] for s in ("alice", "bob", "carol", "mallory", "trudy")}
    assert "crashed" in statuses
    for status in statuses:
        assert f"<td>{status}</td>" in report


def test_does_the_terminal_summary_match_the_report(graded):
    printed, out = graded
    results = [saved(out, s) for s in ("alice", "bob", "carol", "mallory", "trudy")]
    stats = class_statistics("convolution", results)
    report = html.unescape((out / "report.html").read_text())
    assert len(stats.summary_rows()) >= 8
    for label, value in stats.summary_rows():
        assert f"{label}</td><td class=\"number\">{value}</td>" in report
        line = next(line for line in printed.splitlines() if f" {label} " in line)
        assert value in line, (label, value, line)


def test_are_diagnoses_counted_once_per_student_by_short_name():
    message = ("values differ\nYour output matches a known mistake: a flipped kernel (a true convolution). This "
               "course uses cross-correlation; the index slip `b = i - l` (it should be `b = j - l`)")
    assert diagnoses(message) == ["a flipped kernel (a true convolution)", "the index slip `b = i - l` (it should be "
                                                                           "`b = j - l`)"]


class Texts(HTMLParser):
    """Collects the text of elements by id and of question rows, from a DOM that a browser serialised."""

    def __init__(self):
        super().__init__()
        self.stack, self.by_id, self.rows = [], {}, {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.stack.append((tag, attributes.get("id"), attributes.get("data-question")))

    def handle_endtag(self, tag):
        if self.stack:
            self.stack.pop()

    def handle_data(self, data):
        for _, element_id, question in self.stack:
            if element_id:
                self.by_id[element_id] = self.by_id.get(element_id, "") + data
            if question:
                self.rows[question] = self.rows.get(question, "") + data


def chromium():
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: `make test` installs it with apt-get (Debian package chromium)")
        pytest.skip("needs Chromium (Debian package `chromium`); `make test` installs it where apt-get works")
    return found


def test_does_chromium_render_the_score_and_a_row_per_question(graded):
    _, out = graded
    browser = chromium()
    page = out / "bob" / "feedback.html"
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    texts = Texts()
    texts.feed(dom)
    result = saved(out, "bob")
    assert texts.by_id["total"].strip() == f"{result['score']:g} / {result['max_score']:g}"
    earned = {}
    for test in result["tests"]:
        points = earned.setdefault(test["question"], [0.0, 0.0])
        points[0] += test["score"]
        points[1] += test["max_score"]
    assert set(texts.rows) == set(ASSIGNMENTS["convolution"])
    for question, (got, possible) in earned.items():
        assert f"{got:g} / {possible:g}" in texts.rows[question]
