"""How fast a student fills the sandbox's RAM-backed folders, where the caps stop them, and what the host keeps.

    .venv/bin/python benchmarks/sandbox_fill.py

Grades, with the default limits and bubblewrap, a class of two submissions whose
`sobel_magnitude` writes 1 MiB chunks into /tmp (also HOME) and /dev/shm until the
write fails, while a thread samples the host's MemAvailable. Prints what each wrote,
how long it took, the message the student got, and the lowest MemAvailable seen.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from autograder.classroom.batch import grade_class  # noqa: E402
from autograder.sandbox.limits import Limits  # noqa: E402
from submissions import with_replacements  # noqa: E402

FILL = '''
def sobel_magnitude(img):
    import os, time
    report = []
    for folder in ("/dev/shm", "/tmp"):
        written, started, chunk = 0, time.monotonic(), b"x" * 2**20
        try:
            for index in range(100_000):
                with open(f"{folder}/fill{index}", "wb") as handle:
                    for _ in range(16):
                        handle.write(chunk)
                        written += len(chunk)
        except OSError as error:
            report.append(f"{folder} {written} {time.monotonic() - started:.3f} {error.strerror}")
    print("FILL", " | ".join(report))
    raise OSError(28, "No space left on device")
'''


def available_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> int:
    limits = Limits()
    lowest, stop = [available_bytes()], threading.Event()
    before = lowest[0]

    def sample():
        while not stop.is_set():
            lowest[0] = min(lowest[0], available_bytes())
            time.sleep(0.05)

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary) / "class"
        folder.mkdir()
        for name in ("filler_a", "filler_b"):
            (folder / f"{name}.py").write_text(with_replacements("convolution", {"sobel_magnitude": FILL}))
        sampler = threading.Thread(target=sample)
        sampler.start()
        started = time.monotonic()
        grade_class(submissions=folder, assignment="convolution", out=Path(temporary) / "out", workers=2,
                    limits=limits)
        elapsed = time.monotonic() - started
        stop.set()
        sampler.join()
        print(f"\ncaps: /tmp and HOME {limits.tmp_bytes // 2**20} MiB, /dev/shm {limits.shm_bytes // 2**20} MiB; "
              f"2 students graded in parallel in {elapsed:.1f} s\n")
        print("| student | folder | written (MiB) | time to the cap (s) | error |")
        print("|---|---|---|---|---|")
        for name in ("filler_a", "filler_b"):
            saved = json.loads((Path(temporary) / "out" / name / "grading.json").read_text())
            test = next(t for t in saved["tests"] if "FILL" in t["output"])
            for part in test["output"].split("FILL ")[1].split("\n")[0].split(" | "):
                where, written, seconds, error = part.split(" ", 3)
                print(f"| {name} | {where} | {int(written) / 2**20:.0f} | {seconds} | {error} |")
            message = next(t["message"] for t in saved["tests"] if "no space left" in t["message"])
            print(f"|  | message | {message.splitlines()[0][:110]} | | |")
    print(f"\nhost MemAvailable: {before / 2**30:.2f} GiB before, lowest {lowest[0] / 2**30:.2f} GiB during the run "
          f"(a drop of {(before - lowest[0]) / 2**20:.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
