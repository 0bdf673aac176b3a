"""What starting a process costs the grader: the floors, the grader's own modules, and a worker to "ready".

    .venv/bin/python benchmarks/startup.py [--repeat 5]

Every class run starts a grader process and one pool process per slot (each imports the grader's modules), and
every graded submission starts one worker (two when a question runs under blocks). Rows, each the median of
``--repeat`` runs, wall seconds and CPU seconds (user + system of the process and what it waited for):

- ``python -c pass`` and ``import torch``: the floors;
- the grader's modules (what a pool process imports), then the same with ``rfc3987_syntax`` imported first, as
  jsonschema did before autograder/__init__.py marked it absent: their ratio is what that line saves;
- a worker started to its "ready" message, plain and with the convolution and autograd blocks (wall only: the
  sandboxed worker is killed, not waited for, so its CPU is not counted here): spawned (its own interpreter, the
  fallback) and forked from the slot's warm template (autograder.sandbox.template; the template's own start is
  its own row, paid once per slot), side by side, with their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from autograder.worker import protocol
from autograder.sandbox.limits import Limits
from autograder.sandbox.isolation import default_isolation
from autograder.sandbox.launch import launch_worker
from autograder.sandbox.template import Template

GRADER = "import autograder.classroom.batch, autograder.grading.grade"
COMMANDS = {
    "python -c pass": "pass",
    "import torch": "import torch",
    "grader modules": GRADER,
    "grader modules, rfc3987_syntax imported": "import rfc3987_syntax; " + GRADER,
}


def run_python(code: str) -> tuple[float, float]:
    before = os.times()
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    wall = time.perf_counter() - started
    after = os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def start_worker(blocks: frozenset) -> float:
    limits = Limits()
    started = time.perf_counter()
    process, send_fd, receive_fd, workdir = launch_worker(limits, default_isolation(), blocks)
    try:
        ready = protocol.receive(receive_fd, timeout=limits.load_timeout_s)
        assert isinstance(ready, dict) and ready.get("ready"), ready
        return time.perf_counter() - started
    finally:
        os.killpg(process.pid, 9)
        process.wait()
        os.close(send_fd), os.close(receive_fd)
        subprocess.run(["rm", "-rf", workdir], check=False)


def fork_worker(template: Template, blocks: frozenset) -> float:
    limits = Limits()
    started = time.perf_counter()
    process, send_fd, receive_fd = template.fork(blocks, limits, owner="benchmark")
    try:
        ready = protocol.receive(receive_fd, timeout=limits.load_timeout_s)
        assert isinstance(ready, dict) and ready.get("ready"), ready
        return time.perf_counter() - started
    finally:
        process.kill()
        os.close(send_fd), os.close(receive_fd)
        template.reset("benchmark")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    rows = []
    for label, code in COMMANDS.items():
        runs = [run_python(code) for _ in range(repeat)]
        rows.append((label, statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)))
    started = time.perf_counter()
    template = Template(Limits(), default_isolation())
    rows.append(("template to ready (once per slot)", time.perf_counter() - started, None))
    ratios = []
    for label, blocks in (("plain", frozenset()), ("convolution + autograd blocked", frozenset({"convolution", "autograd"}))):
        spawned = statistics.median(start_worker(blocks) for _ in range(repeat))
        forked = statistics.median(fork_worker(template, blocks) for _ in range(repeat))
        rows += [(f"worker to ready, {label}, spawned", spawned, None),
                 (f"worker to ready, {label}, forked from the template", forked, None)]
        ratios.append((label, forked / spawned))
    template.close()
    print(f"| process ({repeat} runs, median) | wall s | CPU s |\n|---|---|---|")
    for label, wall, cpu in rows:
        print(f"| {label} | {wall:.2f} | {'' if cpu is None else f'{cpu:.2f}'} |")
    saved = {label: cpu for label, _, cpu in rows}
    print(f"\nrfc3987_syntax marked absent: the grader's modules take "
          f"{saved['grader modules'] / saved['grader modules, rfc3987_syntax imported']:.2f} of the CPU they took "
          "with it imported.")
    for label, ratio in ratios:
        print(f"Worker to ready, {label}: forked from the template / spawned = {ratio:.3f}")


if __name__ == "__main__":
    main()
