"""The warm template: every worker is a child forked from one template per slot, and each child starts as a fresh
student, in every isolation mode this machine has: nothing one worker leaves is seen by another worker of the same
student, by a regrade, or by the next student; no child can harm the template; a template that dies costs no one
points; the call limit counts CPU time, so a busy machine costs no correct student a call."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from autograder.grading.grade import grade_submission
from autograder.sandbox import isolation, template
from autograder.sandbox.channel import StudentCode
from autograder.sandbox.failures import StudentTimeout
from autograder.sandbox.isolation import Isolation, default_isolation
from autograder.sandbox.limits import Limits
from autograder.submission.load import load_submission
from tests.submissions import with_replacements

pytestmark = pytest.mark.skipif(template.template_problem() is not None,
                                reason=f"no warm template here: {template.template_problem()}")

MODES = [
    pytest.param("bwrap", marks=pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bwrap")),
    pytest.param("landlock", marks=pytest.mark.skipif(isolation.landlock_abi() < 1, reason="needs Landlock"))]

LEAVE_AND_LOOK = '''
import os, socket, threading

PLACES = ["/tmp", "/var/tmp", "/dev/shm", os.environ["HOME"], os.getcwd()]

def leave(tag):
    """Write a file everywhere it can, and listen on an abstract Unix socket."""
    written = []
    for place in PLACES:
        try:
            with open(os.path.join(place, "left-" + tag), "w") as handle:
                handle.write(tag)
            written.append(place)
        except OSError:
            pass
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind("\\0autograder-test-" + tag)
    server.listen(1)
    def answer():
        while True:
            connection, _ = server.accept()
            connection.sendall(b"answers")
            connection.close()
    threading.Thread(target=answer, daemon=True).start()
    try:  # and on UDP, on the loopback
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 47000 + sum(map(ord, tag)) % 1000))
        def echo():
            while True:
                data, sender = udp.recvfrom(100)
                udp.sendto(b"answers", sender)
        threading.Thread(target=echo, daemon=True).start()
    except OSError:
        pass
    import fcntl
    global LOCKED
    LOCKED = open("/etc/hostname" if os.path.exists("/etc/hostname") else "/etc/passwd")
    try:  # a lock on a file every worker may read
        fcntl.flock(LOCKED, fcntl.LOCK_EX)
    except OSError:
        pass
    try:
        fcntl.lockf(LOCKED, fcntl.LOCK_SH)
    except OSError:
        pass
    return written

def look(tag):
    """Every file an earlier worker left, and whether its socket answers."""
    found = []
    for place in PLACES + ["/tmp/..", "/"]:
        try:
            for root, folders, files in os.walk(place):
                found += [os.path.join(root, name) for name in files if name.startswith("left-")]
                if root.count("/") > 4:
                    folders[:] = []
        except OSError:
            pass
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect("\\0autograder-test-" + tag)
        heard = client.recv(100).decode()
    except OSError as error:
        heard = type(error).__name__
    try:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.settimeout(1)
        udp.sendto(b"?", ("127.0.0.1", 47000 + sum(map(ord, tag)) % 1000))
        heard += " " + udp.recv(100).decode()
    except OSError as error:
        heard += " " + type(error).__name__
    import fcntl
    probe = open("/etc/hostname" if os.path.exists("/etc/hostname") else "/etc/passwd")
    for lock in (lambda: fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB),
                 lambda: fcntl.lockf(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)):
        try:
            lock()
            heard += " free"
        except BlockingIOError:
            heard += " answers (locked)"
        except OSError as error:
            heard += " " + type(error).__name__
    try:
        import ctypes
        if ctypes.CDLL(None, use_errno=True).inotify_init() >= 0:
            heard += " answers (inotify)"
    except OSError:
        pass
    return sorted(set(found)), heard
'''


def confinement(mode: str) -> Isolation:
    return Isolation(uid=default_isolation().uid if mode == "bwrap" else None, modes=(mode,))


def code_at(tmp_path, text: str, name: str = "student.py"):
    tmp_path.chmod(0o755)
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o644)
    return load_submission(path)


@pytest.mark.parametrize("mode", MODES)
def test_does_nothing_a_worker_leaves_reach_another_worker_a_regrade_or_the_next_student(tmp_path, mode):
    submission = code_at(tmp_path, LEAVE_AND_LOOK)
    tag = f"{os.getpid()}-{time.monotonic_ns()}"
    with StudentCode(submission, Limits(), confinement(mode)) as student:
        written = student("leave", tag)
        assert os.environ.get("HOME") not in written
        assert written, "the first worker could write nowhere: this test would prove nothing"
        assert student("look", tag)[1].startswith("answers"), "its own socket must answer it: the probe works"
        # Another worker of the same student (the implement-it-yourself checks run in one), while the first lives.
        found, heard = student.call("look", tag, blocks=("convolution",)).value
        assert found == [] and "answers" not in heard, (found, heard)
    for later in ("the same student again", "the next student"):
        with StudentCode(submission, Limits(), confinement(mode)) as student:
            found, heard = student("look", tag)
            assert found == [] and "answers" not in heard, (later, found, heard)


KILLER = '''
import os, signal, time

def strike():
    """Everything a student could aim at the slot: its parent (the template), every process it may signal."""
    tried = []
    for target in (os.getppid(), -1, -os.getppid()):
        try:
            os.kill(target, signal.SIGKILL)
            tried.append((target, "sent"))
        except OSError as error:
            tried.append((target, type(error).__name__))
    if os.fork() == 0:  # and a daemon that keeps trying after the submission ends
        os.setsid()
        if os.fork() == 0:
            time.sleep(1)  # after this call has answered: its own worker is one of the processes it kills
            while True:
                try:
                    os.kill(-1, signal.SIGKILL)
                except OSError:
                    pass
                time.sleep(0.01)
        os._exit(0)
    time.sleep(0.3)
    return tried
'''


@pytest.mark.parametrize("mode", MODES)
def test_can_no_student_harm_the_template_or_the_next_student(tmp_path, mode):
    killer = code_at(tmp_path, KILLER, "killer.py")
    with StudentCode(killer, Limits(), confinement(mode)) as student:
        tried = student("strike")
        forked_from = student._template
        assert forked_from is not None, "the worker was not forked from a template"
        assert tried[0][1] != "sent", tried  # its parent, the template, is out of its reach
        time.sleep(1.5)  # the daemon is at work now
        assert forked_from.alive(), tried
    assert forked_from.alive()
    correct = with_replacements("convolution", {})
    path = tmp_path / "correct.py"
    path.write_text(correct)
    path.chmod(0o644)
    result = grade_submission(path, "convolution", isolation=confinement(mode))
    assert result.status == "ok" and sum(t.score for t in result.tests) == sum(t.max_score for t in result.tests), \
        [(t.name, t.message[:300]) for t in result.tests if t.score < t.max_score]
    assert template.template_for(Limits(), confinement(mode)) is forked_from, "the template was restarted"


def test_does_every_worker_of_a_slot_come_from_one_template(tmp_path):
    submission = code_at(tmp_path, "def pid():\n    import os\n    return os.getpid()\n")
    templates, pids = set(), set()
    for _ in range(3):
        with StudentCode(submission, Limits()) as student:
            pids.add(student("pid"))
            pids.add(student.call("pid", blocks=("convolution",)).value)
            templates.add(id(student._template))
    assert len(templates) == 1 and len(pids) == 6


def test_is_a_submission_graded_again_when_its_template_dies(tmp_path, capfd):
    """The template killed from outside (as an out-of-memory killer would) while a correct student is graded: the
    student keeps every point, graded again with a fresh template."""
    slow = '''
def apply_convolution(img, kernel):
    import time
    time.sleep(0.5)
    return _course_apply_convolution(img, kernel)
'''
    source = with_replacements("convolution", {}).replace("def apply_convolution(", "def _course_apply_convolution(")
    path = tmp_path / "slow.py"
    path.write_text(source + slow)
    tmp_path.chmod(0o755), path.chmod(0o644)
    killed = []

    def kill_the_template_once():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            for running in list(template._templates.values()):
                time.sleep(1.0)  # while a call of the student's runs (each sleeps 0.5 s)
                os.killpg(running.process.pid, signal.SIGKILL)
                killed.append(running.process.pid)
                return
            time.sleep(0.05)

    template._close_all()  # start from no template, so that the thread kills the one this grading starts
    killer = threading.Thread(target=kill_the_template_once)
    killer.start()
    result = grade_submission(path, "convolution")
    killer.join()
    assert killed, "the template was never killed: this test would prove nothing"
    assert "grading it again" in capfd.readouterr().err
    assert result.status == "ok", result.message
    assert sum(t.score for t in result.tests) == sum(t.max_score for t in result.tests), \
        [(t.name, t.message[:300]) for t in result.tests if t.score < t.max_score]


BURN = '''
import time

def burn(seconds):
    """Spend this much CPU time (not wall-clock time), then answer."""
    started = time.process_time()
    total = 0
    while time.process_time() - started < seconds:
        total += sum(range(1000))
    return "done"

def forever():
    while True:
        pass
'''


def test_does_a_busy_machine_cost_no_correct_call_and_an_endless_one_still_stop(tmp_path):
    """0.6 s of CPU work with a 1 s limit, beside CPU hogs (one per core, and more): on the clock it takes longer
    than the limit, in CPU time it does not. An endless loop still stops after 1 s of CPU time."""
    submission = code_at(tmp_path, BURN)
    # Each hog in a session of its own: the kernel's autogroups share the CPU between sessions, not processes
    # (the worker has a session of its own), so hogs sharing one session would hardly slow it.
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
            for _ in range(2 * (os.cpu_count() or 1) + 1)]
    try:
        with StudentCode(submission, Limits(call_timeout_s=1.0)) as student:
            started = time.monotonic()
            assert student("burn", 0.6) == "done"
            took = time.monotonic() - started
            with pytest.raises(StudentTimeout, match="1 s of CPU time"):
                student("forever")
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert took > 1.0, f"the hogs did not slow the call ({took:.2f} s): this test would prove nothing"
