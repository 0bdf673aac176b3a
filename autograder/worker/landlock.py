"""Landlock, the kernel's unprivileged access control, through its three system calls (ctypes: there is no
Python binding in the standard library, and the PyPI wrappers lag the kernel's ABI versions we use: TCP rules
need ABI 4, signal and abstract-socket scoping ABI 6).

Used where namespaces are refused (Docker's default seccomp profile makes bwrap fail with "Creating new
namespace failed"): the worker may read only the system folders and its runtime, write only its own folder,
make no TCP connection and signal no process outside its domain.
"""

from __future__ import annotations

import ctypes
import functools
import os
import stat
import sys
from pathlib import Path

# --------------------------------------------------------------------------------------
# Landlock's system calls have the same numbers on every architecture (asm-generic).
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_RULE_PATH_BENEATH = 1
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_TRUNCATE, _FS_IOCTL_DEV = 1 << 14, 1 << 15
_FS_RIGHTS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}
_FILE_RIGHTS = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV
_NET_TCP = 1 | 2          # bind and connect (ABI 4)
_SCOPE_ALL = 1 | 2        # abstract unix sockets and signals outside the domain (ABI 6)
_PR_SET_NO_NEW_PRIVS = 38


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


@functools.cache
def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is off or a seccomp filter refuses it."""
    if not sys.platform.startswith("linux"):
        return 0
    version = _libc().syscall(ctypes.c_long(_CREATE_RULESET), None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(int(version), 0)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_ruleset(*, read: list[Path], write: list[Path], devices: list[Path]) -> int:
    """A Landlock ruleset fd: read-only beneath ``read``, everything beneath ``write``, read-write ``devices``.

    Everything else on the file system is refused, and so are TCP (ABI 4) and signals or abstract
    sockets that leave the domain (ABI 6). The child applies it with ``landlock_restrict_self``.
    """
    abi = landlock_abi()
    fs_rights = _FS_RIGHTS_BY_ABI.get(abi, (1 << 16) - 1)
    attr = _RulesetAttr(fs_rights, _NET_TCP if abi >= 4 else 0, _SCOPE_ALL if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    libc = _libc()
    fd = libc.syscall(ctypes.c_long(_CREATE_RULESET), ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if fd < 0:
        raise OSError(ctypes.get_errno(), f"landlock_create_ruleset: {os.strerror(ctypes.get_errno())}")
    reading = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
    # /proc may be listed (the worker finds the processes its student left behind), not read.
    rules = [(Path("/proc"), _FS_READ_DIR)] + [(path, reading) for path in read] + [(path, fs_rights) for path in write]
    rules += [(path, _FS_READ_FILE | _FS_WRITE_FILE | (_FS_IOCTL_DEV if abi >= 5 else 0)) for path in devices]
    try:
        for path, rights in rules:
            _add_rule(libc, fd, path, rights, fs_rights)
    except OSError:
        os.close(fd)
        raise
    return fd


def _add_rule(libc, ruleset_fd: int, path: Path, rights: int, fs_rights: int) -> None:
    try:
        path_fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # absent on this machine (say, /lib32): nothing to allow
    try:
        if not stat.S_ISDIR(os.fstat(path_fd).st_mode):
            rights &= _FILE_RIGHTS
        rule = _PathBeneathAttr(rights & fs_rights, path_fd)
        if libc.syscall(ctypes.c_long(_ADD_RULE), ctypes.c_int(ruleset_fd), ctypes.c_int(_RULE_PATH_BENEATH),
                        ctypes.byref(rule), ctypes.c_uint32(0)) < 0:
            error = ctypes.get_errno()
            raise OSError(error, f"landlock_add_rule({path}): {os.strerror(error)}")
    finally:
        os.close(path_fd)


def landlock_restrict_self(ruleset_fd: int) -> None:
    """In the child, before exec: access to its own /proc/<pid>, no new privileges, then the ruleset for this
    process and its children.

    Its own /proc/<pid> is writable too: CUDA's driver writes there as it starts (its threads' names, in
    task/<tid>/comm), and cudaGetDeviceCount() failed with error 304 without it, on an H100 under Landlock.
    Those files change only the worker itself."""
    libc = _libc()
    _add_rule(libc, ruleset_fd, Path(f"/proc/{os.getpid()}"),
              _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR | _FS_WRITE_FILE | _FS_TRUNCATE,
              _FS_RIGHTS_BY_ABI.get(landlock_abi(), (1 << 16) - 1))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.syscall(ctypes.c_long(_RESTRICT_SELF), ctypes.c_int(ruleset_fd), ctypes.c_uint32(0)) < 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self")


# Not all of /proc: another process's files there (the grader's environ, its cwd) must stay out of reach.
# The worker's own /proc/<pid> is added in the child (``landlock_restrict_self``), where the pid is known.
# CUDA's driver library reads /proc/devices (the major numbers of nvidia-uvm and nvidia-caps) and
# /proc/driver/nvidia/ as it starts. Neither holds anything of the grader's.
SYSTEM_READABLE = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc", "/sys", "/dev",
                   "/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/sys", "/proc/devices", "/proc/driver")
DEVICES_WRITABLE = ("/dev/null", "/dev/zero", "/dev/full")


_PR_CAPBSET_DROP = 24


def drop_capabilities() -> None:
    """In the child, before exec: empty the capability bounding set, so that a worker left running as root
    (no sandbox uid works) execs with no capability at all (no mounts, modules, raw sockets, ...)."""
    libc = _libc()
    for capability in range(64):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 and ctypes.get_errno() == 22:
            break  # EINVAL: past the last capability this kernel knows


