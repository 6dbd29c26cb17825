"""Worker processes that never outlive the process that started them.

``die_with_parent()`` is called first thing in every worker (preprocess's pool, pretrain's
spawned ranks): on Linux the kernel sends SIGKILL when the parent dies (prctl
PR_SET_PDEATHSIG); elsewhere a small thread watches the parent's PID. Either way a launcher
killed with kill -9 takes its workers with it instead of leaving them writing files."""
import ctypes
import ctypes.util
import os
import signal
import threading
import time

PR_SET_PDEATHSIG = 1
WATCH_INTERVAL_S = 1.0


def _prctl_pdeathsig(signum):
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid):
    while os.getppid() == parent_pid:
        time.sleep(WATCH_INTERVAL_S)
    os.kill(os.getpid(), signal.SIGKILL)


def die_with_parent(parent_pid=None):
    """Make this process end when ``parent_pid`` (default: the current parent) ends."""
    parent_pid = os.getppid() if parent_pid is None else parent_pid
    if not _prctl_pdeathsig(signal.SIGKILL):
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the request was in place
        os.kill(os.getpid(), signal.SIGKILL)


def quiet_worker_signals():
    """A worker leaves SIGINT/SIGTERM to its parent, which stops the pool and cleans up:
    no worker traceback for a Ctrl-C, no inherited SIGTERM handler raising in a worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def init_worker(parent_pid):
    """Pool initializer: die with ``parent_pid`` and leave the signals to it."""
    die_with_parent(parent_pid)
    quiet_worker_signals()
