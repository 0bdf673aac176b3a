"""Hostile and broken submissions cost their author points, never the grader's run.

These run under bubblewrap when it is installed (make test installs it); the
file-system and network cases need it and are skipped with a reason otherwise.
"""

import os
import shutil
import socket
import threading

import pytest

from autograder.grading.grade import grade_submission
from autograder.course.assignments import PROJECT_ROOT
from autograder.sandbox.isolation import IsolationUnavailable
from autograder.sandbox.limits import Limits
from submissions import with_replacements

pytestmark = pytest.mark.slow
if os.environ.get("CI") and shutil.which("bwrap") is None:
    raise RuntimeError("CI must test the bubblewrap path, but bwrap is not installed (make test installs it)")
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (bwrap) for isolation")
LIMITS = Limits(call_timeout_s=5, load_timeout_s=30, memory_bytes=2 * 2**30)
FULL = {"compute_convolution_at_position": 3, "apply_convolution": 5, "sobel_magnitude": 3}


def grade_with_sobel(tmp_path, body, extra=""):
    """Reference convolution submission whose sobel_magnitude runs ``body`` (then answers correctly)."""
    source = with_replacements("convolution", {"sobel_magnitude": f'''
def sobel_magnitude(img):
{body}
    magnitude = torch.sqrt(apply_convolution(img, SOBEL_X.to(img.dtype)) ** 2
                           + apply_convolution(img, SOBEL_Y.to(img.dtype)) ** 2)
    return magnitude / magnitude.max() if magnitude.max() > 0 else magnitude
'''}, extra=extra)
    path = tmp_path / "hostile.py"
    path.write_text(source)
    result = grade_submission(path, "convolution", limits=LIMITS)
    scores = {question: earned for question, (earned, _) in result.per_question().items()}
    messages = "\n".join(t.message for t in result.tests if t.question == "sobel_magnitude")
    return result, scores, messages


def test_does_a_memory_bomb_fail_with_the_memory_limit_named(tmp_path):
    result, scores, messages = grade_with_sobel(tmp_path, "    hog = bytearray(8 * 2**30)")
    assert scores == FULL | {"sobel_magnitude": 1}  # the constants test reads no function
    assert "exceeded the 2 GiB memory limit" in messages


def test_does_a_fork_bomb_fail_only_its_question(tmp_path):
    body = "    import os\n    children = []\n    while True:\n        children.append(os.fork())"
    result, scores, messages = grade_with_sobel(tmp_path, body)
    assert scores == FULL | {"sobel_magnitude": 1}
    from autograder.sandbox.isolation import default_isolation

    if default_isolation().uid is not None:  # root with bwrap: RLIMIT_NPROC binds the sandbox uid
        assert "BlockingIOError" in messages and result.status == "ok"
    else:  # no process limit can be set for the grader's own uid: the call timeout ends it
        assert "BlockingIOError" in messages or "timed out" in messages


def test_does_a_100_mb_print_fail_with_the_output_limit_named(tmp_path):
    result, scores, messages = grade_with_sobel(tmp_path, "    print('x' * 100_000_000)")
    assert scores == FULL | {"sobel_magnitude": 1}
    assert "MiB allowed for output and files" in messages


@needs_bwrap
def test_can_student_code_not_reach_a_server_on_the_graders_loopback(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)
    port, accepted = server.getsockname()[1], []

    def accept():
        for _ in range(40):
            try:
                accepted.append(server.accept())
            except OSError:
                continue

    thread = threading.Thread(target=accept)
    thread.start()
    body = f"    import socket\n    socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'leak')"
    result, scores, messages = grade_with_sobel(tmp_path, body)
    thread.join()
    server.close()
    assert not accepted
    # refused on the way out: no IP socket at all (the seccomp filter), or none to reach (bwrap's network namespace)
    assert scores == FULL | {"sobel_magnitude": 1}
    assert "PermissionError" in messages or "ConnectionRefusedError" in messages, messages


@needs_bwrap
@pytest.mark.parametrize("target", ["solutions/convolution.py", "autograder/suites/convolution/test_apply_convolution.py",
                                    "tests/submissions/catalogue.py", ".git/HEAD"])
def test_are_the_answers_and_hidden_tests_invisible_to_student_code(tmp_path, target):
    body = f"    print(open({str(PROJECT_ROOT / target)!r}).read())"
    result, scores, messages = grade_with_sobel(tmp_path, body)
    assert scores == FULL | {"sobel_magnitude": 1}
    assert "FileNotFoundError" in messages
    assert "def " not in "".join(t.output for t in result.tests)


@needs_bwrap
def test_is_importing_the_solutions_package_impossible(tmp_path):
    result, scores, messages = grade_with_sobel(tmp_path, "    from solutions.convolution import sobel_magnitude")
    assert scores == FULL | {"sobel_magnitude": 1} and "Error" in messages


@needs_bwrap
def test_do_writes_outside_the_private_tmp_fail(tmp_path):
    target = tmp_path / "results.json"
    body = f"    open({str(target)!r}, 'w').write('{{\"score\": 100}}')"
    result, scores, messages = grade_with_sobel(tmp_path, body)
    assert not target.exists()
    assert scores == FULL | {"sobel_magnitude": 1}


@pytest.mark.parametrize("statement, status", [("import os; os._exit(0)", "crashed"),
                                               ("import sys; sys.exit()", "ok")], ids=["os._exit", "sys.exit"])
def test_does_exiting_at_import_score_cleanly(tmp_path, statement, status):
    extra = f"\ndef _at_import():\n    {statement}\n\nON_IMPORT = _at_import()\n\ndef uses():\n    return ON_IMPORT\n"
    source = with_replacements("convolution", {}, extra=extra)
    path = tmp_path / "exit.py"
    path.write_text(source)
    result = grade_submission(path, "convolution", limits=LIMITS)
    assert result.status == status
    if status == "crashed":  # the process is gone before any function could run
        assert result.score == 0 and "while loading your code" in result.message
    else:  # SystemExit is caught per statement: the definitions loaded before it still work
        assert result.score == 11 and any("SystemExit" in error for error in result.load_errors)


def test_are_the_limits_applied_under_the_fallback_isolation_too(tmp_path):
    from autograder.sandbox.isolation import Isolation, WeakIsolationWarning, default_isolation

    source = with_replacements("convolution", {"sobel_magnitude": "def sobel_magnitude(img):\n"
                                                                    "    hog = bytearray(8 * 2**30)\n"})
    path = tmp_path / "hog.py"
    path.write_text(source)
    isolation = Isolation(uid=default_isolation().uid, modes=("landlock", "uid"))
    try:
        with pytest.warns(WeakIsolationWarning):
            result = grade_submission(path, "convolution", limits=LIMITS, isolation=isolation)
    except IsolationUnavailable:
        pytest.skip("neither Landlock nor a sandbox uid works on this machine: grading is refused (tested elsewhere)")
    assert "exceeded the 2 GiB memory limit" in " ".join(t.message for t in result.tests)


def test_is_printed_output_capped_per_test(tmp_path):
    result, scores, messages = grade_with_sobel(tmp_path, "    for _ in range(40):\n        print('y' * 10_000)")
    assert scores == FULL
    outputs = [t.output for t in result.tests if t.question == "sobel_magnitude" and t.output]
    assert outputs and all(len(o) <= 64 * 1024 + 100 and "output truncated" in o for o in outputs)


def test_is_a_folder_holding_the_runtime_never_hidden():
    from pathlib import Path

    from autograder.course.assignments import PROJECT_ROOT
    from autograder.sandbox.bwrap import bwrap_arguments
    from autograder.sandbox.isolation import runtime_paths

    arguments = bwrap_arguments("bwrap", [PROJECT_ROOT, PROJECT_ROOT / "solutions"], drop_to_uid=False)
    hidden = [arguments[i + 1] for i, a in enumerate(arguments) if a == "--tmpfs"]
    bound = [arguments[i + 1] for i, a in enumerate(arguments) if a == "--ro-bind"]
    if any(PROJECT_ROOT in path.parents for path in runtime_paths()):  # say, the project's own .venv
        assert str(PROJECT_ROOT) not in hidden
    # solutions/ is out of sight either way: covered, or under a private folder and never bound back
    assert str(PROJECT_ROOT / "solutions") in hidden or not [
        path for path in bound if path != "/" and Path(path) in (PROJECT_ROOT / "solutions").parents]


def test_does_a_checkout_under_tmp_come_back_through_the_private_tmp(monkeypatch):
    from pathlib import Path

    from autograder.sandbox import bwrap as sandbox

    monkeypatch.setattr(sandbox, "runtime_paths", lambda: [Path("/tmp/ci/clone/.venv"), Path("/tmp/ci/clone/.venv/lib")])
    arguments = sandbox.bwrap_arguments("bwrap", [], drop_to_uid=False)
    venv = "/tmp/ci/clone/.venv"
    assert arguments.index("/tmp") < arguments.index(venv)  # private /tmp first, then the bind on top
    assert arguments[arguments.index(venv) - 1] == "--ro-bind" and arguments.count(venv) == 2
    # the folders on the way are made open (0755) for a sandbox uid, and nothing else of the clone is bound
    assert ["--perms", "0755", "--dir", "/tmp/ci/clone"] == arguments[arguments.index("/tmp/ci/clone") - 3:
                                                                       arguments.index("/tmp/ci/clone") + 1]
    assert "/tmp/ci/clone/.venv/lib" not in arguments  # inside a folder already bound


def test_does_only_the_worker_answer_when_student_code_forks(tmp_path):
    """A forked child returning into the worker's loop must not answer in the parent's place."""
    body = ("    import os, time\n"
            "    if os.fork() == 0:\n"
            "        return torch.full((1,), 123.0)  # the child answers at once, wrongly\n"
            "    time.sleep(0.3)  # the parent answers correctly, a moment later")
    result, scores, messages = grade_with_sobel(tmp_path, body)
    assert scores == FULL, messages


@needs_bwrap
def test_is_another_copy_of_the_course_elsewhere_on_the_machine_invisible(tmp_path):
    """A world-readable checkout outside the grader's project (say, a TA's other clone) stays unseen:
    only the system folders and the grader's own runtime are visible in the sandbox."""
    from autograder.sandbox.bwrap import SYSTEM_FOLDERS, _private_top_folders

    top = next((t for t in _private_top_folders() if os.access(t, os.W_OK) and t not in PROJECT_ROOT.parents), None)
    if top is None:
        pytest.skip("no writable top-level folder outside the project to plant a copy in")
    copy = top / f"autograder-test-copy-{os.getpid()}"
    (copy / "solutions").mkdir(parents=True)
    try:
        for folder in (copy, copy / "solutions"):
            folder.chmod(0o755)
        secret = copy / "solutions" / "convolution.py"
        secret.write_text("SECRET = 'reference code'\n")
        secret.chmod(0o644)
        body = (f"    try:\n        open({str(secret)!r}).read()\n        raise RuntimeError('READ the copy')\n"
                "    except OSError as error:\n        print('REFUSED', type(error).__name__)")
        result, scores, messages = grade_with_sobel(tmp_path, body)
        outputs = "\n".join(t.output for t in result.tests)
        assert "READ the copy" not in messages and "REFUSED FileNotFoundError" in outputs, (messages, outputs)
        assert top.name not in SYSTEM_FOLDERS
    finally:
        shutil.rmtree(copy)
