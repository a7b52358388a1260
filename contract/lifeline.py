"""No process the suite starts outlives the run that started it, whatever killed the run (SIGKILL,
the OOM killer, a CI runner cancelling the job): each child watches its parent.

``watch_parent`` polls ``os.getppid()`` against the pid the child was given, every ``PERIOD_S``.
Chosen over Linux's ``prctl(PR_SET_PDEATHSIG)`` (through ctypes) because:

- the death signal fires when the *thread* that forked the child exits, not the process: the
  orchestrator starts backends from a thread pool and the reconnect storms restart them from a
  driver thread, so it would kill healthy backends in the middle of a run;
- it is Linux only (the suite also runs on macOS laptops);
- a signal alone records nothing, and the run must: the Locust process writes into the manifest
  the last moment it saw its parent alive, so that analysis judges only what came before; a watch
  that polls knows that moment by construction;
- the same few lines serve uvicorn (a real thread) and Locust (under gevent the thread is a
  greenlet and the sleep cooperative; polling costs one ``getppid`` per period).

Comparing with the given pid, not with 1, also covers a parent that died before the watch began
and a subreaper (``systemd --user``, a CI runner) adopting the orphan.

The price: noticing takes up to one period, and a process whose loop is stuck notices late or not
at all, so whoever acts on it also sets ``exit_backstop``: the kernel ends the process should its
graceful exit hang.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

PERIOD_S = 0.25


def parent_is_gone(parent_pid: int) -> bool:
    return os.getppid() != parent_pid


def watch_parent(parent_pid: int, on_gone: Callable[[float], None], *, period_s: float = PERIOD_S) -> threading.Thread:
    """Call ``on_gone(last_seen_alive)`` once ``parent_pid`` is no longer this process's parent (it
    died, even by SIGKILL); ``last_seen_alive`` is the epoch time of the last check that found it."""

    def watch() -> None:
        last_seen = time.time()
        while True:
            now = time.time()
            if parent_is_gone(parent_pid):
                break
            last_seen = now
            time.sleep(period_s)
        on_gone(last_seen)

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread


def exit_backstop(seconds: int) -> None:
    """End this process with SIGALRM (its default action: terminate) in ``seconds``, unless it has
    exited by then. The kernel delivers it: it works with the event loop or the gevent hub stuck."""
    signal.alarm(max(1, seconds))
