"""No process a student starts outlives the submission, in any isolation mode, however it hides."""

import os
import shutil
import time
from pathlib import Path

import pytest

from autograder.sandbox import isolation
from autograder.sandbox.channel import StudentCode
from autograder.sandbox.isolation import Isolation, default_isolation
from autograder.sandbox.limits import Limits
from autograder.submission.load import load_submission

DAEMON = '''
import os, time

def spawn(seconds):
    # the classic daemon: fork, setsid, fork again, exec with an empty environment (no tag of the grader's)
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execve("/bin/sleep", ["sleep", seconds], {})
        os._exit(0)
    time.sleep(0.5)
    return "started"
'''


def running(marker: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker in cmdline.read_bytes().decode(errors="replace"):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("mode", [
    pytest.param("bwrap", marks=pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bwrap")),
    pytest.param("landlock", marks=pytest.mark.skipif(isolation.landlock_abi() < 1, reason="needs Landlock"))])
def test_does_a_daemon_die_with_the_submission(tmp_path, mode):
    path = tmp_path / "daemon.py"
    path.write_text(DAEMON)
    tmp_path.chmod(0o755)
    path.chmod(0o644)
    marker = f"{os.getpid() % 1000}.{time.monotonic_ns() % 10**6:06d}"  # a sleep of its own, to find it by
    confinement = Isolation(uid=default_isolation().uid if mode == "bwrap" else None, modes=(mode,))
    with StudentCode(load_submission(path), Limits(), confinement) as student:
        assert student("spawn", marker) == "started"
        assert running(marker), "the daemon did not start: this test would prove nothing"
    assert not running(marker)
