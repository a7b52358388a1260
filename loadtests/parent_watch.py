"""A Locust process started by ``loadbench run`` (the single process, the master, a local worker)
stops when the run dies without ending it: SIGKILL, the OOM killer, a CI runner cancelling the job.

It notices through ``contract.lifeline.watch_parent`` (why polling: see there). Then:

1. the single process or the master writes into the manifest when the orchestrator was last seen
   alive (``orchestrator_lost_at``) and a note; analysis judges only what was measured before
   that moment (``analysis.load``), since what came after measured the dying run, not the target;
2. it takes Locust's own graceful path (SIGTERM: quitting, final stats, exit) with the users
   stopped at once, not after ``--stop-timeout``: nobody is left to judge their last task;
3. the kernel ends it ``QUIT_WITHIN_S`` later should that hang (a worker's goodbye to a master
   that is gone).
"""

from __future__ import annotations

import logging
import os
import signal
from datetime import UTC, datetime
from pathlib import Path

from locust.env import Environment
from locust.runners import WorkerRunner

from contract.lifeline import exit_backstop, watch_parent
from loadtests.errors import EXIT_INFRA
from loadtests.recorder.format import RunFormatError, iso
from loadtests.recorder.rundir import RunDirectory, utc_now

log = logging.getLogger(__name__)

QUIT_WITHIN_S = 3


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


def install(environment: Environment, *, parent_pid: int, run_dir: Path | None) -> None:
    def on_gone(last_seen_alive: float) -> None:
        exit_backstop(QUIT_WITHIN_S)
        log.error("loadbench: the run (pid %s) is gone; stopping this Locust process", parent_pid)
        if run_dir is not None and not isinstance(environment.runner, WorkerRunner):
            try:
                record_orchestrator_lost(RunDirectory(run_dir), parent_pid=parent_pid, last_seen_alive=last_seen_alive)
            except (OSError, RunFormatError) as error:
                log.error("loadbench: cannot record the end of the run in its manifest: %s", error)
        environment.process_exit_code = EXIT_INFRA
        environment.stop_timeout = 0
        os.kill(os.getpid(), signal.SIGTERM)

    watch_parent(parent_pid, on_gone)
