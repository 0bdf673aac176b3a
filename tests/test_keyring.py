"""No kernel keyring, System V IPC object or message queue joins the grader and a student, or two workers.

Every worker used to inherit, and possess, the grader's session keyring (on a PAM login, the TA's, with whatever
Kerberos, AFS or fscrypt keys it holds), in every isolation mode; and two workers of one student (or two runs of
one student) could pass answers through a key.
"""

import ctypes
import os
import shutil

import pytest

from autograder.sandbox import isolation
from autograder.sandbox.channel import StudentCode
from autograder.sandbox.isolation import Isolation, default_isolation
from autograder.sandbox.limits import Limits
from autograder.submission.load import load_submission

ADD_KEY, KEYCTL = 248, 250  # x86_64 system call numbers
KEYCTL_SEARCH = 10
SESSION, USER = -3, -4      # KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING
SECRET_NAME = b"autograder-test-grader-secret"

PROBE = '''
import ctypes, os

def probe(name, payload):
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        listed = open("/proc/keys").read()
    except OSError:  # Landlock refuses it: nothing listed
        listed = ""
    found = [libc.syscall(250, 10, ring, b"user", name.encode(), 0) for ring in (-3, -4, -5)]
    added = [libc.syscall(248, b"user", b"student-note", payload.encode(), len(payload), ring) for ring in (-3, -4)]
    noted = [libc.syscall(250, 10, ring, b"user", b"student-note", 0) for ring in (-3, -4)]
    ipc = [libc.shmget(0x5EC12E7, 4096, 0o1666), libc.msgget(0x5EC12E7, 0o1666), libc.semget(0x5EC12E7, 1, 0o1666)]
    queue = libc.mq_open(b"/autograder-student", 0o100 | 2, 0o666, None) if hasattr(libc, "mq_open") else -1
    return {"listed": listed, "found": found, "added": added, "noted": noted, "ipc": ipc, "queue": queue}
'''


def modes() -> list:
    uid = default_isolation().uid
    return [pytest.param("bwrap", marks=pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bwrap")),
            pytest.param("landlock", marks=pytest.mark.skipif(isolation.landlock_abi() < 1, reason="needs Landlock")),
            pytest.param("uid", marks=pytest.mark.skipif(uid is None, reason="needs root for a sandbox uid"))]


@pytest.fixture
def grader_key():
    """A key in the grader's own session keyring, as a TA's login would hold one."""
    libc = ctypes.CDLL(None, use_errno=True)
    serial = libc.syscall(ADD_KEY, b"user", SECRET_NAME, b"the-tas-token", 13, SESSION)
    if serial < 0:
        pytest.skip(f"this machine gives the test no keyring ({os.strerror(ctypes.get_errno())})")
    yield serial
    libc.syscall(KEYCTL, 3, serial)  # KEYCTL_REVOKE


@pytest.mark.parametrize("mode", modes())
def test_is_no_key_or_ipc_object_shared_with_student_code(tmp_path, grader_key, mode):
    path = tmp_path / "probe.py"
    path.write_text(PROBE)
    tmp_path.chmod(0o755)
    path.chmod(0o644)
    confinement = Isolation(uid=default_isolation().uid if mode != "landlock" else None, modes=(mode,))
    if mode == "uid":
        try:
            confinement.resolve()
        except isolation.IsolationUnavailable as refused:  # e.g. a Python under /root that other uids cannot read
            pytest.skip(f"the sandbox uid cannot run this Python here: {str(refused)[:200]}")
    with StudentCode(load_submission(path), Limits(), confinement) as first:
        assert first.isolation.resolve().mode == mode
        seen = first("probe", SECRET_NAME.decode(), "left by the first worker")
    with StudentCode(load_submission(path), Limits(), confinement) as second:
        again = second("probe", SECRET_NAME.decode(), "left by the second worker")
    for value in (seen, again):
        assert SECRET_NAME.decode() not in value["listed"], value["listed"]
        assert value["found"] == [-1, -1, -1], value
        assert value["added"] == [-1, -1], value  # nothing to leave for the next worker or the next run
        assert value["noted"] == [-1, -1], value
        assert value["ipc"] == [-1, -1, -1] and value["queue"] == -1, value
