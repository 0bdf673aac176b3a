"""What one submission's code may spend: time per call and in all, memory, processes, files."""

from __future__ import annotations

from dataclasses import dataclass

# Seconds one call into the student's code may take: the CLI's --timeout, nbgrader's GradeInSandbox.call_timeout
# and every Limits() start from this one number.
CALL_TIMEOUT_S = 10.0
# A call's limit counts the worker's CPU time where the grader can read it (workers forked from a template), so a
# busy machine costs no correct student a call; the clock may run this many times longer (sleeps, blocked reads).
WALL_CAP_FACTOR = 3.0
# A helper answered by the grader (StudentCode.call's through_grader) takes and gives at most this many numbers:
# the grader's own memory and time are not the student's to spend (the suites' inputs are a few hundred numbers).
CALLBACK_MAX_ELEMENTS = 100_000


@dataclass
class Limits:
    call_timeout_s: float = CALL_TIMEOUT_S  # one call into the student's code
    load_timeout_s: float = 60.0          # loading the submission (imports and definitions)
    submission_timeout_s: float = 300.0   # all calls of one submission together
    memory_bytes: int = 4 * 2**30         # RLIMIT_DATA: heap and anonymous mappings
    cpu_seconds: int = 600                # RLIMIT_CPU of one worker process
    processes: int = 64                   # RLIMIT_NPROC (threads count too); only when a uid is set
    file_bytes: int = 64 * 2**20          # RLIMIT_FSIZE: largest file the worker may write
    # RAM-backed folders count against no rlimit, so each has a size of its own (bwrap's --size).
    tmp_bytes: int = 256 * 2**20          # the private /tmp, which is also HOME
    shm_bytes: int = 64 * 2**20           # /dev/shm
    threads: int = 1
