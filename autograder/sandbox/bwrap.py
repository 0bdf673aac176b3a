"""bubblewrap's command line for a worker: what it sees, what it may write, which namespaces it gets."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from autograder.sandbox.isolation import runtime_paths
from autograder.sandbox.limits import Limits


def _closed_ancestors(paths: list[Path]) -> list[Path]:
    """The highest ancestor of each path that only its owner may traverse (e.g. /root, mode 700)."""
    closed = []
    for path in paths:
        for ancestor in reversed(path.parents[:-1]):  # from the top, "/" excluded
            if not ancestor.stat().st_mode & stat.S_IXOTH:
                if ancestor not in closed:
                    closed.append(ancestor)
                break
    return closed


def _rebinds(paths: list[Path], covers: list[Path]) -> list[str]:
    """After an empty tmpfs is mounted on each cover, bind back, read-only, exactly what ``paths`` need beneath it.

    The folders on the way are made first with mode 0755 (bwrap would make them 0700, closed to the sandbox
    uid), so a project that holds the venv stays hidden but for the venv itself.
    """
    arguments, made = [], set()
    wanted = [path for path in paths if not any(other in path.parents for other in paths)]
    for path in wanted:
        cover = next((cover for cover in covers if cover in path.parents), None)
        if cover is None:
            continue
        for folder in reversed(path.parents):
            if cover in folder.parents and folder not in made:
                made.add(folder)
                arguments += ["--perms", "0755", "--dir", str(folder)]
        arguments += ["--ro-bind", str(path), str(path)]
    return arguments


# Top-level folders the worker sees, read-only: the operating system. Every other top-level folder
# (/home, /root, /work, /srv, /opt, /mnt, ...) is an empty tmpfs in the sandbox, except the paths the
# worker runs from, bound back: another checkout of this course elsewhere on the machine stays unseen.
SYSTEM_FOLDERS = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "var", "run", "dev", "proc",
                  "sys", "tmp"}


def _private_top_folders() -> list[Path]:
    tops = []
    for entry in sorted(Path("/").iterdir()):
        try:
            if entry.name not in SYSTEM_FOLDERS and entry.is_dir() and not entry.is_symlink():
                tops.append(entry)
        except OSError:
            continue
    return tops


COVER_BYTES = 2**20  # an empty tmpfs that hides a folder: room for the mount points bwrap makes in it


def bwrap_arguments(bwrap: str, hidden: list[Path], drop_to_uid: bool, limits: Limits | None = None) -> list[str]:
    """bubblewrap: no network, the system folders read-only, a private /tmp (also HOME) and /dev/shm of
    bounded size, hidden paths, own PID namespace.

    Every writable tmpfs has a --size (RAM-backed folders count against no rlimit); the covers over
    hidden and private folders are tiny and remounted read-only, and so is /dev.
    No user namespace: when the grader is root the worker drops to a plain uid itself, which
    keeps RLIMIT_NPROC meaningful (the kernel never applies it to uid 0).
    """
    limits = limits or Limits()
    arguments = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                 "--die-with-parent", "--new-session", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                 "--perms", "1777", "--size", str(limits.shm_bytes), "--tmpfs", "/dev/shm",
                 "--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
    if os.geteuid() != 0:
        arguments.insert(1, "--unshare-user")  # an unprivileged bwrap needs a user namespace for its mounts
    # --dev gives a minimal /dev: bring the NVIDIA device nodes in, or CUDA tests cannot run in the sandbox.
    for device in sorted(Path("/dev").glob("nvidia*")):
        arguments += ["--dev-bind", str(device), str(device)]
    runtime = runtime_paths()
    # Private folders are covered, then what the worker runs from is bound back beneath them: a checkout
    # or a venv under /tmp comes back through the private /tmp, the same for the other covers.
    private = _private_top_folders()
    if drop_to_uid:  # a Python under /root/... or /home/ta (mode 700) must stay reachable for another uid
        private += [path for path in _closed_ancestors(runtime) if path not in private]
    arguments += _rebinds(runtime, [Path("/tmp")])
    for cover in private:
        arguments += ["--size", str(COVER_BYTES), "--tmpfs", str(cover), *_rebinds(runtime, [cover])]
    # Hidden folders last, over the binds: only those still in sight, never one that holds what the worker
    # runs on (say, submissions kept in the project's root).
    def within(path: Path, folders: list[Path]) -> bool:
        return any(path == folder or folder in path.parents for folder in folders)

    hidden = [path for path in (path.resolve() for path in hidden)
              if path.is_dir() and (within(path, runtime) or not within(path, [Path("/tmp"), *private]))
              and not any(path == needed or path in needed.parents for needed in runtime)]
    arguments += [argument for path in hidden for argument in ("--size", str(COVER_BYTES), "--tmpfs", str(path))]
    covers = private + hidden
    arguments += [argument for cover in covers for argument in ("--remount-ro", str(cover))]
    arguments += ["--remount-ro", "/dev"]
    return arguments + ["--chdir", "/tmp", "--"]
