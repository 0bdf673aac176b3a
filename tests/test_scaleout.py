"""Grading on a real Dask cluster: a `dask scheduler` and two `dask worker` processes on 127.0.0.1.

The class is the convolution demo class (a correct submission, the stub, three mistakes) without its two
hostile submissions, which would only wait out their timeouts on the workers.
A Dask run writes the same OUT as a local run, byte for byte apart from timings and the sandbox uid; a worker
killed half way costs nothing; a scheduler killed half way stops the command with a message, and a rerun on a
fresh scheduler finishes the class. Every process is torn down, and the test checks none is left.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_isolation import processes_of

pytestmark = pytest.mark.slow
distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]
CLASS = ROOT / "examples" / "submissions" / "convolution"
DASK = Path(sys.executable).parent / "dask"
VARYING = [(re.compile(r'"(duration_s|execution_time)": [0-9.e-]+'), '"time": T'),
           (re.compile(r"\d+\.\d+ s\b"), "T s"), (re.compile(r"sandbox uid \d+"), "sandbox uid U")]


def normalised(path: Path) -> str:
    """A file as written, with the timings and the sandbox uid (which differ between any two runs) masked;
    a binary file (the report's figures) as its bytes."""
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        return path.read_bytes().hex()
    for pattern, replacement in VARYING:
        text = pattern.sub(replacement, text)
    return text


class Cluster:
    """A scheduler and workers as separate process groups, each with a folder of its own."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.processes: dict[str, subprocess.Popen] = {}
        self.scheduler_file = folder / "scheduler.json"

    def start(self, name: str, *arguments: str, env: dict | None = None) -> subprocess.Popen:
        home = self.folder / name
        home.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen([str(DASK), *arguments], cwd=home, stdout=(home / "log").open("w"),
                                   stderr=subprocess.STDOUT, start_new_session=True, env=env)
        self.processes[name] = process
        return process

    def start_scheduler(self) -> str:
        self.scheduler_file.unlink(missing_ok=True)
        self.start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                   "--scheduler-file", str(self.scheduler_file))
        deadline = time.monotonic() + 60
        while not self.scheduler_file.exists():
            assert time.monotonic() < deadline, (self.folder / "scheduler" / "log").read_text()
            time.sleep(0.2)
        return self.address

    @property
    def address(self) -> str:
        import json

        return json.loads(self.scheduler_file.read_text())["address"]

    def start_workers(self, count: int = 2, env: dict | None = None, *extra: str) -> None:
        for index in range(count):
            name = f"worker{index}-{len(self.processes)}"
            # No nanny unless asked: killing the worker's process kills the worker, as a lost machine would.
            self.start(name, "worker", self.address, "--nthreads", "1", "--no-dashboard",
                       "--local-directory", str(self.folder / name), *(extra or ("--no-nanny",)), env=env)
        with distributed.Client(self.address, timeout="60s") as client:
            client.wait_for_workers(len(self.workers()), timeout=120)

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def workers(self) -> list[str]:
        return [name for name in self.processes if name.startswith("worker")]

    def stop(self) -> None:
        for name in list(self.processes):
            self.kill(name)


@pytest.fixture
def cluster(tmp_path):
    running = Cluster(tmp_path / "cluster")
    running.start_scheduler()
    running.start_workers(2)
    yield running
    running.stop()
    deadline = time.monotonic() + 10
    while processes_of(str(running.folder)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not processes_of(str(running.folder)), "processes left behind"


@pytest.fixture(scope="module")
def quick_class(tmp_path_factory):
    """The demo class without its two hostile submissions (which wait out timeouts), and its local run: the
    classes a worker or the scheduler is killed in, where only the resuming matters."""
    folder = tmp_path_factory.mktemp("quick") / "convolution"
    folder.mkdir()
    for path in CLASS.iterdir():
        if not path.name.startswith("hostile_"):
            (folder / path.name).write_bytes(path.read_bytes())
    out = folder.parent / "local-out"
    run = grade(out, submissions=folder)
    assert run.returncode == 0, run.stdout + run.stderr
    return folder, out


def two_students(folder: Path, quick_class) -> tuple[Path, dict[str, str]]:
    """The correct submission and the stub of the quick class, and their gradebook rows from the local run."""
    submissions, local_out = quick_class
    folder.mkdir()
    for name in ("correct.py", "untouched_stub.py"):
        (folder / name).write_bytes((submissions / name).read_bytes())
    rows = {row.split(",")[0]: row for row in (local_out / "gradebook.csv").read_text().splitlines()[1:]}
    return folder, {student: rows[student] for student in ("correct", "untouched_stub")}


def gradebook_rows(out: Path) -> dict[str, str]:
    return {row.split(",")[0]: row for row in (out / "gradebook.csv").read_text().splitlines()[1:]}


def grade(out: Path, *extra: str, wait: bool = True, submissions: Path = CLASS):
    command = [sys.executable, "-m", "autograder.cli", "grade", str(submissions), "-a", "convolution", "--out",
               str(out), *extra]
    environment = os.environ | {"AUTOGRADER_SCHEDULER_TIMEOUT": "3"}
    if not wait:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=environment)
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=environment)


def assert_same_out(dask_out: Path, local_out: Path, submissions: Path = CLASS) -> None:
    files = sorted(path.relative_to(local_out) for path in local_out.rglob("*") if path.is_file())
    assert files == sorted(path.relative_to(dask_out) for path in dask_out.rglob("*") if path.is_file())
    assert len([f for f in files if f.name == "results.json"]) == len(list(submissions.iterdir()))
    for relative in files:
        assert normalised(dask_out / relative) == normalised(local_out / relative), relative


def wait_for_results(out: Path, count: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300
    while len(list(out.glob("*/grading.json"))) < count:
        assert process.poll() is None and time.monotonic() < deadline, "the class finished or stalled too early"
        time.sleep(0.05)


def test_does_a_dask_run_write_the_same_out_as_a_local_run(cluster, quick_class, tmp_path):
    """The demo class less its two hostile submissions (they only wait out timeouts here; a worker's sandbox is
    the next tests' subject), graded on Dask and by the local pool: the same files."""
    submissions, local_out = quick_class
    out = tmp_path / "out"
    run = grade(out, "--scheduler", cluster.address, submissions=submissions)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{len(list(submissions.iterdir()))} students graded" in run.stdout
    assert_same_out(out, local_out, submissions)


def test_does_the_class_finish_with_the_same_grades_when_a_worker_is_killed_half_way(cluster, quick_class,
                                                                                      tmp_path):
    submissions, local_out = quick_class
    out = tmp_path / "out"
    process = grade(out, "--scheduler", cluster.address, wait=False, submissions=submissions)
    wait_for_results(out, 1, process)
    cluster.kill(cluster.workers()[0])
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output
    assert (out / "gradebook.csv").read_text() == (local_out / "gradebook.csv").read_text()
    assert_same_out(out, local_out, submissions)


def test_does_a_lost_scheduler_stop_the_run_with_a_message_and_a_rerun_finish_the_class(cluster, quick_class,
                                                                                         tmp_path):
    submissions, local_out = quick_class
    total = len(list(submissions.iterdir()))
    out = tmp_path / "out"
    process = grade(out, "--scheduler", cluster.address, wait=False, submissions=submissions)
    wait_for_results(out, 1, process)
    cluster.stop()
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 3, output
    assert "lost the Dask scheduler" in output and "run the same command again" in output, output
    saved = len(list(out.glob("*/grading.json")))
    assert 1 <= saved < total and len((out / "gradebook.csv").read_text().splitlines()) == saved + 1
    cluster.start_scheduler()
    cluster.start_workers(2)
    rerun = grade(out, "--scheduler", cluster.address, submissions=submissions)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"({total - saved} now, {saved} already done)" in rerun.stdout, rerun.stdout
    assert_same_out(out, local_out, submissions)


def test_does_a_worker_that_cannot_sandbox_refuse_to_grade_and_say_why(tmp_path, quick_class):
    """A worker with other grading code is refused before anything is graded. A worker whose bubblewrap fails
    as under Docker's seccomp profile, with every other mode ruled out, grades nobody and the TA is told why;
    a worker that can sandbox then grades the class."""
    submissions, expected = two_students(tmp_path / "class", quick_class)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "bwrap").write_text("#!/bin/sh\necho 'bwrap: Creating new namespace failed: Operation not permitted' >&2\n"
                                "exit 1\n")
    (fake / "bwrap").chmod(0o755)
    broken = os.environ | {"PATH": f"{fake}:{os.environ['PATH']}", "AUTOGRADER_SANDBOX_MODES": "bwrap"}
    stale = tmp_path / "stale.py"
    stale.write_text("import autograder.classroom.dask_cluster as scaleout\nscaleout.grader_fingerprint = lambda: 'another version'\n")
    running = Cluster(tmp_path / "cluster")
    try:
        running.start_scheduler()
        running.start_workers(1, None, "--no-nanny", "--preload", str(stale))
        out = tmp_path / "out"
        mismatched = grade(out, "--scheduler", running.address, submissions=submissions)
        assert mismatched.returncode == 3 and "run other grading code than this machine" in mismatched.stdout, \
            mismatched.stdout + mismatched.stderr
        running.kill(running.workers()[0])
        running.start_workers(1, env=broken)
        refused = grade(out, "--scheduler", running.address, submissions=submissions)
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert "cannot sandbox student code" in refused.stderr and "no Dask worker can sandbox" in refused.stdout
        assert not list(out.glob("*/grading.json"))
        running.start_workers(1)
        finished = grade(out, "--scheduler", running.address, submissions=submissions)
        assert finished.returncode == 0, finished.stdout + finished.stderr
        assert gradebook_rows(out) == expected
    finally:
        running.stop()


DIES_ON_CRASHER = """
import os

import autograder.classroom.dask_cluster as scaleout

if not hasattr(scaleout, "grade_before_dying"):  # a nanny and its worker may both import this preload
    scaleout.grade_before_dying = scaleout.grade_on_worker

    def dies_on_crasher(student, *arguments):
        if student == "crasher":  # as a submission that takes its whole worker down would
            with open(os.environ["DEATHS"], "a") as deaths:
                deaths.write("died\\n")
            os._exit(1)
        return scaleout.grade_before_dying(student, *arguments)

    scaleout.grade_on_worker = dies_on_crasher
"""


def test_is_a_submission_that_kills_two_workers_recorded_as_crashed_without_looping(tmp_path, quick_class):
    """Workers (restarted by their nannies) that die whenever they grade "crasher": its task is retried once,
    then recorded as crashed with zero points; everyone else is graded as by a local run."""
    folder, expected = two_students(tmp_path / "class", quick_class)
    (folder / "crasher.py").write_bytes((folder / "correct.py").read_bytes())
    preload = tmp_path / "dies_on_crasher.py"
    preload.write_text(DIES_ON_CRASHER)
    running = Cluster(tmp_path / "cluster")
    try:
        running.start_scheduler()
        deaths = tmp_path / "deaths"
        running.start_workers(2, os.environ | {"DEATHS": str(deaths)}, "--nanny", "--preload", str(preload))
        out = tmp_path / "out"
        run = grade(out, "--scheduler", running.address, submissions=folder)
        assert run.returncode == 0, run.stdout + run.stderr
    finally:
        running.stop()
    assert deaths.read_text() == "died\n" * 2  # retried once, then never again
    rows = gradebook_rows(out)
    assert rows.pop("crasher").endswith(",0.0,11.0,crashed")
    assert "died twice" in (out / "crasher" / "feedback.html").read_text()
    assert rows == expected


def test_is_an_unreachable_scheduler_a_clear_message_not_a_traceback(tmp_path):
    run = grade(tmp_path / "out", "--scheduler", "tcp://127.0.0.1:9")
    assert run.returncode == 3 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in run.stdout, \
        run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr


def test_is_dask_left_unimported_without_a_scheduler(tmp_path):
    probe = subprocess.run([sys.executable, "-c", "import sys; from autograder.cli import main; "
                            f"code = main(['grade', {str(CLASS / 'correct.py')!r}, '-a', 'convolution']); "
                            "print(code, 'distributed' in sys.modules, 'dask' in sys.modules)"],
                           capture_output=True, text=True, timeout=300)
    assert probe.stdout.strip().splitlines()[-1] == "0 False False", probe.stdout + probe.stderr
