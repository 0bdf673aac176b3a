"""Channels the kernel keeps outside the file system, closed to the student's process: keyrings and SysV/POSIX IPC.

Namespaces and Landlock confine files, processes and the network, but the kernel keyring is per session and per
uid, not per namespace: every worker inherited, and possessed, the grader's session keyring (on a PAM login the
TA's, with whatever Kerberos, AFS or fscrypt keys it holds), and two workers of one student, or two runs of one
student, could pass answers through a key. System V IPC and POSIX message queues join any two processes that agree
on a key, in every mode but bubblewrap's (which unshares IPC).

``close_shared_channels`` runs in the worker's process between fork and exec, in every isolation mode, so that
bwrap, the interpreter and the student's code all run under it:
1. it joins a new, empty, anonymous session keyring, so nothing of the grader's session is possessed, even by
   the kernel acting for the process (a file system that asks the session keyring for a token finds none);
2. it loads a seccomp filter, through libseccomp (pyseccomp), that answers EPERM to the keyring system calls, as
   Docker's default profile does, to System V IPC and POSIX message queues, to file locks and inotify/fanotify
   watches (a lock or a watch on a file both may read is a channel too), and to IP sockets (``socket`` of
   AF_INET or AF_INET6), which no grading needs: Landlock refuses TCP but not UDP, and the workers forked from one
   template share a network namespace (bubblewrap's) or the machine's, so UDP on the loopback would join them.
The filter is inherited across fork and exec and cannot be removed.
"""

from __future__ import annotations

import ctypes
import errno
import socket

from autograder.sandbox.isolation import IsolationUnavailable

# What Docker's default profile denies of the keyring (keyctl, add_key, request_key), and the IPC families that
# join processes by a name or number rather than by a file the sandbox controls.
# Then what lets two processes signal each other through a file both may only read: file locks (flock, and fcntl's
# lock commands below) and inotify/fanotify watches. Student code needs none of them.
DENIED = ("keyctl", "add_key", "request_key",
          "shmget", "shmat", "shmctl", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop",
          "semctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
          "flock", "inotify_init", "inotify_init1", "inotify_add_watch", "fanotify_init", "fanotify_mark")
# fcntl's F_GETLK, F_SETLK, F_SETLKW and their open-file-description forms F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW.
FCNTL_LOCKS = (5, 6, 7, 36, 37, 38)

KEYCTL_JOIN_SESSION_KEYRING = 1
IP_FAMILIES = (socket.AF_INET, socket.AF_INET6)


class SeccompUnavailable(IsolationUnavailable):
    """libseccomp (and so the filter) is missing on this machine: grading is refused, as with no isolation."""


def build_filter():
    """The filter, built in the grader before the fork (so that a missing libseccomp is said once, clearly)."""
    try:
        import pyseccomp
    except (ImportError, OSError) as error:  # pyseccomp loads libseccomp.so.2 as it is imported
        raise SeccompUnavailable(f"libseccomp is not usable here ({error}); install libseccomp2") from None
    syscall_filter = pyseccomp.SyscallFilter(defaction=pyseccomp.ALLOW)
    for name in DENIED:
        try:
            syscall_filter.add_rule(pyseccomp.ERRNO(errno.EPERM), name)
        except (RuntimeError, ValueError, OSError):
            continue  # a call this architecture does not have (i386's multiplexed ipc(2) is not a target)
    for family in IP_FAMILIES:
        syscall_filter.add_rule(pyseccomp.ERRNO(errno.EPERM), "socket", pyseccomp.Arg(0, pyseccomp.EQ, family))
    for command in FCNTL_LOCKS:
        syscall_filter.add_rule(pyseccomp.ERRNO(errno.EPERM), "fcntl", pyseccomp.Arg(1, pyseccomp.EQ, command))
    return syscall_filter


def close_shared_channels(syscall_filter) -> None:
    """Between fork and exec: a new empty session keyring, then the filter. Exits the child if either fails:
    a worker that shares the grader's keyring must not run."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(250, KEYCTL_JOIN_SESSION_KEYRING, None) < 0 and ctypes.get_errno() != errno.ENOSYS:
        raise OSError(ctypes.get_errno(), "could not join a new session keyring")
    syscall_filter.load()
