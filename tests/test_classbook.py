"""TA tooling: the roster, the late policy, the LMS exports and the similarity report.

The unit tests need no grading. One test grades a small nbgrader-layout class through the CLI, as a TA
would: duplicates, a renamed copy, a late student, a roster with a student who did not submit, an export
for Canvas, and a targeted regrade that keeps the roster and the penalty.
"""

import csv
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from autograder.classroom.batch import Submission
from autograder.cli import main
from autograder.classroom.late import LatePolicy, LatePolicyError, Penalty, parse_time, policy_from_options
from autograder.reports.feedback import render_feedback
from autograder.classroom.roster import CANVAS_ID_COLUMNS, MOODLE_ID_COLUMNS, Roster, RosterError, export_rows
from autograder.files import write_csv_atomic
from autograder.classroom.similarity import find_similar
from submissions import SOLUTIONS, reference_source, stub_source, with_replacements

UTC = timezone.utc
RELEASE = Path(__file__).resolve().parents[1] / "release"


def released(assignment: str) -> Path:
    return RELEASE / assignment / f"{assignment}.ipynb"

DUE = "2026-11-20 23:59"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# -- late policy ---------------------------------------------------------------------------------------
def test_do_penalties_count_started_days_and_stop_at_the_cap():
    policy = Penalty.parse("10%", cap=25)
    assert [policy.percent(days) for days in (0, 1, 2, 3, 9)] == [0, 10, 20, 25, 25]
    assert Penalty.parse("zero").percent(1) == 100 and Penalty.parse("none").percent(5) == 0
    late = LatePolicy(due=parse_time(DUE, where="test"), penalty=policy,
                      submitted_at={"a": parse_time("2026-11-21 00:00", where="t"),    # one minute late
                                    "b": parse_time("2026-11-20 23:59", where="t"),    # on the minute
                                    "c": parse_time("2026-11-23 00:00+01:00", where="t")})  # 2 days 1 min
    assessed = {s: late.assess(s, Path("/nonexistent/x.py")) for s in "abc"}
    assert [assessed[s].days_late for s in "abc"] == [1, 0, 2]
    assert assessed["c"].apply(15.0) == 12.0 and assessed["b"].apply(15.0) == 15.0
    for bad in ("10 per day", "150%", "-5"):
        with pytest.raises(LatePolicyError):
            Penalty.parse(bad)


def test_is_an_nbgrader_timestamp_read_and_a_file_mtime_never_used(tmp_path):
    notebook = write(tmp_path / "submitted" / "ann" / "a" / "a.ipynb", "{}")
    write(notebook.parent / "timestamp.txt", "2026-11-20 22:00:00.123456 UTC\n")
    future = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    os.utime(notebook, (future, future))  # a late-looking mtime: ignored
    policy = policy_from_options(due=DUE, penalty="zero")
    assert policy.assess("ann", notebook).days_late == 0
    stray = write(tmp_path / "flat" / "ben.py", "x = 1")
    write(stray.parent / "timestamp.txt", "2026-11-20 22:00:00 UTC")  # not nbgrader's layout: not ben's time
    with pytest.raises(LatePolicyError, match="no submission time for ben.*never used"):
        policy.check([Submission("ben", stray)])


def test_are_extension_and_submission_time_files_checked(tmp_path):
    times = write(tmp_path / "times.csv", "student,submitted_at\nann,2026-11-22 10:00\n")
    extensions = write(tmp_path / "ext.csv", "\ufeffstudent,days\nann,2\n")  # Excel's BOM
    policy = policy_from_options(due=DUE, penalty="10", extensions=str(extensions), submitted_at=str(times))
    assert policy.assess("ann", Path("ann.py")).days_late == 0 and policy.assess("ann", Path("a")).extended
    write(extensions, "student,due\nann,2026-11-21 12:00\n")
    assert policy_from_options(due=DUE, penalty="10", extensions=str(extensions),
                               submitted_at=str(times)).assess("ann", Path("a")).days_late == 1
    bad = [("student,when\nann,x\n", "needs a column"), ("student,submitted_at\nann,tomorrow\n", "not a date"),
           ("student,submitted_at\nann,2026-11-20\nann,2026-11-21\n", "appears twice")]
    for text, message in bad:
        with pytest.raises(LatePolicyError, match=message):
            policy_from_options(due=DUE, submitted_at=str(write(tmp_path / "bad.csv", text)))
    with pytest.raises(LatePolicyError, match="no submission: zed"):
        policy_from_options(due=DUE, submitted_at=str(write(tmp_path / "z.csv", "student,submitted_at\nzed,"
                                                            "2026-11-20\n"))).check([])


def test_does_the_feedback_page_show_the_score_before_and_after_the_penalty():
    late = {"submitted_at": "2026-11-22 09:30 UTC", "due": "2026-11-20 23:59 UTC", "extended": False,
            "days_late": 2, "penalty_percent": 20.0, "score_before": 6.0, "score_after": 4.8}
    page = render_feedback({"student": "ann", "assignment": "shifted_mnist", "status": "ok", "score": 6.0,
                            "max_score": 6.0, "tests": [], "late": late})
    text = re.sub(r"<[^>]+>", "", page)
    assert re.search(r"4\.8 / 6", text.split("Questions")[0]) and "Late by 2 started days" in text
    assert "Before the penalty: 6 / 6" in text and "After: 4.8 / 6" in text


# -- roster and exports --------------------------------------------------------------------------------
ROSTER = "submission,id,name,sis_user_id,sis_login_id,section,email\nann,101,\"Doe, Ann\",S1,adoe,A,ann@x.edu\n" \
         "ben,102,Ben Bo,S2,bbo,B,ben@x.edu\nghost,103,Gus Ghost,S3,gg,B,gus@x.edu\n"


def test_is_a_roster_checked_against_the_class(tmp_path):
    roster = Roster.read(write(tmp_path / "roster.csv", ROSTER))
    assert [person.submission for person in roster.check(["ann", "ben"])] == ["ghost"]
    with pytest.raises(RosterError, match="not on the roster: zed"):
        roster.check(["ann", "zed"])
    for text, message in [("submission,name\nann,Ann\n", "no column id"),
                          ("submission,id,name\nann,1,A\nann,2,B\n", "submission 'ann' is also on line 2"),
                          ("submission,id,name\nann,1,A\nben,1,B\n", "id '1' is also on line 2"),
                          ("submission,id,name\n", "lists nobody"), ("submission,id,name\nann,,A\n", "empty id")]:
        with pytest.raises(RosterError, match=message):
            Roster.read(write(tmp_path / "bad.csv", text))


def rows_for_export():
    return [{"student": "ann", "total": 4.8, "status": "ok", "lms_id": "101", "name": "Doe, Ann",
             "score_before_penalty": 6.0, "days_late": 2, "penalty_percent": 20.0},
            {"student": "ben", "total": 6.0, "status": "ok", "lms_id": "102", "name": "Ben Bo"},
            {"student": "ghost", "total": None, "status": "missing", "lms_id": "103", "name": "Gus Ghost"}]


def canvas_reads(header: list[str], body: list[list]) -> dict:
    """What Canvas's GradebookImporter (canvas-lms, app/models/gradebook_importer.rb) takes from a CSV: the
    header must have "Student" then "ID" first, the SIS User ID and SIS Login ID columns next, and "Section"
    as the last student column; a row whose first cell says "Points Possible" sets the points; every other row
    is a student, found by the ID column, with the grade under each assignment column."""
    assert len(header) > 3 and re.search("Student", header[0]) and re.search("ID", header[1]), header
    student_columns = 3
    if re.search(r"SIS\s+User\s+ID", header[2]) and re.search(r"SIS\s+Login\s+ID", header[3]):
        student_columns += 2
    assert re.search("Section", header[student_columns - 1]), header
    assignments = header[student_columns:]
    read = {"assignments": assignments, "points": None, "grades": {}}
    for row in body:
        cells = [str(cell) for cell in row]
        if re.search("Points Possible", cells[0]):
            read["points"] = cells[student_columns:]
            continue
        read["grades"][cells[1]] = cells[student_columns:]
    return read


def test_is_the_canvas_export_read_by_canvas_importer_rules(tmp_path):
    roster = Roster.read(write(tmp_path / "roster.csv", ROSTER))
    header, body = export_rows("canvas", "shifted_mnist", 6.0, rows_for_export(), roster)
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "shifted_mnist"]
    assert tuple(header[:5]) == CANVAS_ID_COLUMNS
    read = canvas_reads(header, body)
    assert read["assignments"] == ["shifted_mnist"] and read["points"] == ["6.0"]
    assert read["grades"] == {"101": ["4.8"], "102": ["6.0"], "103": [""]}  # missing: empty, not 0
    assert body[1][:5] == ["Doe, Ann", "101", "S1", "adoe", "A"]
    header, body = export_rows("canvas", "shifted_mnist", 6.0, rows_for_export(), roster, column="HW 3 (4521)")
    assert canvas_reads(header, body)["assignments"] == ["HW 3 (4521)"]  # Canvas matches an existing one by id


def test_is_the_moodle_export_one_moodle_can_map(tmp_path):
    roster = Roster.read(write(tmp_path / "roster.csv", ROSTER))
    header, body = export_rows("moodle", "shifted_mnist", 6.0, rows_for_export(), roster)
    assert header == [*MOODLE_ID_COLUMNS, "shifted_mnist"]
    # Moodle's grade/import/csv (classes/load_data.php) maps one column onto idnumber, email, username or id;
    # "ID number" and "Email address" are its own export's headers for two of them. Each row needs that value,
    # and a grade is a number, or "" / "-" for no grade (anything else aborts the whole import).
    assert {"ID number", "Email address"} <= set(header)
    for row in body:
        assert str(row[header.index("ID number")]) and "@" in row[header.index("Email address")]
        grade = str(row[-1])
        assert grade in ("", "-") or float(grade) >= 0
    assert [row[0] for row in body] == ["101", "102", "103"] and [row[-1] for row in body] == [4.8, 6.0, ""]
    with pytest.raises(RosterError, match="grade with --roster"):
        export_rows("moodle", "shifted_mnist", 6.0, rows_for_export(), None)
    header, body = export_rows("csv", "shifted_mnist", 6.0, rows_for_export(), None)
    assert header[:6] == ["submission", "lms_id", "name", "score", "max_score", "status"]
    assert body[0][:4] == ["ann", "101", "Doe, Ann", 4.8] and body[0][6:9] == [6.0, 2, 20.0]


def test_are_formula_cells_in_an_export_neutralised(tmp_path):
    roster = Roster.read(write(tmp_path / "roster.csv", "submission,id,name\nann,101,=HYPERLINK(\"x\")\n"))
    header, body = export_rows("canvas", "a", 6.0, [{"student": "ann", "total": 1.0, "status": "ok"}], roster)
    path = write_csv_atomic(tmp_path / "out.csv", header, body)
    assert list(csv.reader(path.open()))[2][0] == "'=HYPERLINK(\"x\")"


# -- similarity ----------------------------------------------------------------------------------------
RENAMES = {"images": "pics", "dx": "shift_x", "dy": "shift_y", "labels": "targets", "model": "net"}


def renamed_copy(source: str) -> str:
    for old, new in RENAMES.items():
        source = re.sub(rf"\b{old}\b", new, source)
    return "# my own work\n" + source.replace("#", "# note:")


def test_do_duplicates_and_renamed_copies_top_the_similarity_list(tmp_path):
    folder = tmp_path / "class"
    reference = reference_source("shifted_mnist")
    write(folder / "alice.py", reference)
    write(folder / "alice_twin.py", reference)
    write(folder / "bob.py", renamed_copy(reference))
    write(folder / "stub.ipynb", released("shifted_mnist").read_text())  # the notebook as released
    write(folder / "carol.py", with_replacements("shifted_mnist", {"shift_images": '''
def shift_images(images, dx, dy):
    """</pre><script>alert(1)</script>"""
    out = images.new_zeros(images.shape)
    h, w = images.shape[-2:]
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[..., i, j] = images[..., i - dy, j - dx]
    return out
'''}))
    submissions = [Submission(path.stem, path) for path in sorted(folder.iterdir())]
    report = find_similar(submissions, "shifted_mnist")
    top = {frozenset((pair.first, pair.second)) for pair in report.pairs[:3]}
    assert top == {frozenset(p) for p in (("alice", "alice_twin"), ("alice", "bob"), ("alice_twin", "bob"))}
    assert report.pairs[0].similarity == (1.0, 1.0)  # the exact duplicates first
    assert all(min(pair.similarity) > 0.9 for pair in report.pairs[:3])  # renaming hides nothing
    assert all("carol" in (pair.first, pair.second) for pair in report.pairs[3:])  # shares one function only
    assert "stub" in report.too_short  # an untouched stub is all boilerplate: nothing of its own
    assert all("stub" not in (pair.first, pair.second) for pair in report.pairs)
    assert "<mark>" in report.pairs[0].first_html
    assert all("<script>" not in pair.first_html + pair.second_html for pair in report.pairs)


def test_is_the_released_stub_subtracted(tmp_path):
    """Without the released notebook as boilerplate, two untouched stubs match each other; with it, neither
    has code of its own."""
    for name in ("one", "two"):
        write(tmp_path / "class" / f"{name}.ipynb", released("what_networks_see").read_text())
    submissions = [Submission(p.stem, p) for p in sorted((tmp_path / "class").iterdir())]
    assert find_similar(submissions, "what_networks_see").too_short == ["one", "two"]
    alone = find_similar(submissions, "what_networks_see", release_dir=tmp_path / "no-release")
    assert [(pair.first, pair.second) for pair in alone.pairs] == [("one", "two")]


# -- a TA's run ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_does_a_ta_get_roster_late_penalty_similarity_and_a_canvas_file(tmp_path, capsys):
    course = tmp_path / "course"
    reference = (SOLUTIONS / "shifted_mnist.py").read_text()
    sources = {"ann": reference, "ann_twin": reference, "ben": renamed_copy(reference),
               "cat": stub_source("shifted_mnist")}  # graded 0; its given class is compared like the rest
    stamps = {"ann": "2026-11-20 20:00:00.000000 UTC", "ann_twin": "2026-11-20 21:00:00.000000 UTC",
              "ben": "2026-11-22 09:30:00.000000 UTC", "cat": "2026-11-20 23:00:00.000000 UTC"}
    for student, source in sources.items():
        folder = course / "submitted" / student / "shifted_mnist"
        write(folder / "shifted_mnist.py", source)
        write(folder / "timestamp.txt", stamps[student])
    roster = write(tmp_path / "roster.csv", "submission,id,name,sis_user_id,sis_login_id,section\n"
                   + "".join(f"{s},{100 + i},Name {s},S{i},{s}_login,A\n" for i, s in enumerate([*sources, "dan"])))
    out = tmp_path / "out"
    options = ["grade", str(course), "-a", "shifted_mnist", "--out", str(out), "--workers", "2"]
    stranger = write(tmp_path / "r2.csv", "submission,id,name\nann,1,A\n")
    assert main([*options, "--roster", str(stranger)]) == 2  # ann_twin, ben, cat are not on it: nothing graded
    assert "not on the roster: ann_twin, ben, cat" in " ".join(capsys.readouterr().out.split()) and not out.exists()

    assert main([*options, "--roster", str(roster), "--due", "2026-11-20 23:59", "--late-penalty", "10%"]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "Name dan (dan)" in printed and "ben: 2 started day(s) late, 6 -> 4.8" in printed
    rows = {row["student"]: row for row in csv.DictReader((out / "gradebook.csv").open())}
    assert rows["ben"]["total"] == "4.8" and rows["ben"]["score_before_penalty"] == "6.0"
    assert rows["ben"]["days_late"] == "2" and rows["ann"]["total"] == "6.0" and rows["ann"]["days_late"] == "0"
    assert rows["dan"]["status"] == "missing" and rows["dan"]["total"] == "" and rows["dan"]["lms_id"] == "104"
    feedback = re.sub(r"<[^>]+>", "", (out / "ben" / "feedback.html").read_text())
    assert "Late by 2 started days" in feedback and "Before the penalty: 6 / 6" in feedback and "After: 4.8 / 6" in feedback
    report = (out / "report.html").read_text()
    listed = re.findall(r"<tr><td class=\"number\">\d+</td><td>(\w+)</td><td>(\w+)</td>",
                        report.split('id="similarity"')[1])
    assert {frozenset(pair) for pair in listed[:3]} == {frozenset(("ann", "ann_twin")), frozenset(("ann", "ben")),
                                                         frozenset(("ann_twin", "ben"))}
    assert 'id="late"' in report and "Name dan" in report
    for student in sources:  # a feedback page names no other student and shows none of their code
        page = (out / student / "feedback.html").read_text()
        assert not [other for other in sources if other != student and re.search(rf"\b{other}\b", page)]
        assert "shift_x" not in page and "<mark>" not in page and "Similar" not in page

    assert main(["export", str(out), "--format", "canvas"]) == 0
    with open(out / "shifted_mnist-canvas.csv", newline="") as handle:
        lines = list(csv.reader(handle))
    read = canvas_reads(lines[0], lines[1:])
    assert read["points"] == ["6.0"]
    assert read["grades"] == {"100": ["6.0"], "101": ["6.0"], "102": ["4.8"], "103": ["0.0"], "104": [""]}

    # A targeted regrade without the options: the roster and the late policy saved in OUT/class.json still apply,
    # and no one else's files are rewritten.
    others = {p: p.stat().st_mtime_ns for p in out.glob("*/*") if p.parent.name != "ben"}
    before = (out / "ben" / "grading.json").stat().st_mtime_ns
    assert main([*options, "--student", "ben"]) == 0
    printed = " ".join(capsys.readouterr().out.split())  # rich wraps lines at the terminal's width
    assert "used the roster and the late policy saved" in printed and "(1 now, 3 already done)" in printed
    assert (out / "ben" / "grading.json").stat().st_mtime_ns != before
    assert {row["student"]: row["total"] for row in csv.DictReader((out / "gradebook.csv").open())}["ben"] == "4.8"
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/*") if p.parent.name != "ben"} == others
    assert json.loads((out / "class.json").read_text())["late"]["penalty"]["per_day"] == 10.0
    assert main([*options, "--student", "nobody"]) == 2
    assert "no submission for student(s) nobody" in " ".join(capsys.readouterr().out.split())
