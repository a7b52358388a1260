"""A Locust process started by ``loadbench run`` (the single process, the master, a local worker)
stops when the run dies without ending it: SIGKILL, the OOM killer, a CI runner cancelling the job.

It notices through ``contract.lifeline.watch_parent`` (why polling: see there). Then:

1. the single process or the master writes into the manifest when the orchestrator was last seen
   alive (``orchestrator_lost_at``) and a note; analysis judges only what was measured before
   that moment (``analysis.load``), since what came after measured the dying run, not the target;
2. it takes Locust's own graceful path (SIGTERM: quitting, final stats, exit) with the users
   stopped at once, not after ``--stop-timeout``: nobody is left to judge their last task. A
   worker stops its users first, so that its last interval reaches the master (the recorder's
   ``test_stop``) before Locust's goodbye, and a master waits up to ``FINALS_WAIT_S`` for those
   before it quits: workers report every 3 s, so without both the last seconds measured before
   the run died were lost;
3. the kernel ends it ``QUIT_WITHIN_S`` later should that hang (a worker's goodbye to a master
   that is gone).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from contract.lifeline import exit_backstop, watch_parent
from loadtests.errors import EXIT_INFRA
from loadtests.recorder.format import RunFormatError, iso
from loadtests.recorder.rundir import RunDirectory, utc_now

log = logging.getLogger(__name__)

QUIT_WITHIN_S = 3
FINALS_WAIT_S = 1.5  # a master's wait for its workers' last intervals, within QUIT_WITHIN_S


def lost_note(parent_pid: int, last_seen_alive: float) -> str:
    moment = iso(datetime.fromtimestamp(last_seen_alive, UTC))
    return (
        f"loadbench run (pid {parent_pid}) died without ending the run (SIGKILL, the OOM killer, a cancelled "
        f"job?); last seen alive at {moment}: Locust stopped itself, and samples after it are not judged"
    )


def record_orchestrator_lost(run_dir: RunDirectory, *, parent_pid: int, last_seen_alive: float) -> None:
    """The manifest says when the run died; the run stays ``partial`` and ends with exit 4."""
    manifest = run_dir.read_manifest()
    run_dir.write_manifest(
        manifest.model_copy(
            update={
                "orchestrator_lost_at": last_seen_alive,
                "ended_at": iso(utc_now()),
                "exit_code": EXIT_INFRA,
                "notes": [*manifest.notes, lost_note(parent_pid, last_seen_alive)],
            }
        )
    )


def install(
    environment: Environment,
    *,
    parent_pid: int,
    run_dir: Path | None,
    await_finals: Callable[[float], None] | None = None,
) -> None:
    """``await_finals(timeout_s)``: a master's wait for its workers' last intervals."""

    def on_gone(last_seen_alive: float) -> None:
        exit_backstop(QUIT_WITHIN_S)
        log.error("loadbench: the run (pid %s) is gone; stopping this Locust process", parent_pid)
        environment.process_exit_code = EXIT_INFRA
        environment.stop_timeout = 0
        if run_dir is not None and not isinstance(environment.runner, WorkerRunner):
            try:
                record_orchestrator_lost(RunDirectory(run_dir), parent_pid=parent_pid, last_seen_alive=last_seen_alive)
            except (OSError, RunFormatError) as error:
                log.error("loadbench: cannot record the end of the run in its manifest: %s", error)
        if isinstance(environment.runner, WorkerRunner):
            # Stop first: the recorder's test_stop sends the last interval. Locust's quitting would
            # tell the master "quit" before it, and a master drops what a worker sends after that.
            environment.runner.stop()
        elif await_finals is not None and isinstance(environment.runner, MasterRunner):
            await_finals(FINALS_WAIT_S)  # the workers noticed too and are sending their last intervals
        os.kill(os.getpid(), signal.SIGTERM)

    watch_parent(parent_pid, on_gone)
