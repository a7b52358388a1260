"""Synthetic run directories for analysis tests, written through ``RunDirectory`` and ``SampleRow``
(the recorder's own format), with planted latencies, outcomes, resources and figures."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtests.recorder.format import iso
from loadtests.recorder.histogram import new_histogram
from loadtests.recorder.rows import SampleRow
from loadtests.recorder.rundir import Manifest, RunDirectory, TargetInfo

START = 1_800_000_000.0  # epoch seconds of test_start
RAMP_S = 10.0


def encode(latencies_us: Iterable[int]) -> tuple[str | None, int]:
    histogram = new_histogram()
    count = 0
    for value in latencies_us:
        assert histogram.record_value(int(value))
        count += 1
    return (histogram.encode().decode("ascii") if count else None), count


class SyntheticRun:
    def __init__(
        self,
        path: Path,
        *,
        targets: tuple[str, ...] = ("blue", "green"),
        slos: Any = None,
        status: str = "complete",
        ramp_s: float | None = RAMP_S,
    ) -> None:
        self.directory = RunDirectory.create(out=path, results_root=path.parent, profile="synthetic", target="both")
        profile: dict[str, Any] = {"name": "synthetic", "description": "planted data", "users": 10}
        if slos is not None:
            profile["slos"] = slos
        self.directory.write_manifest(
            Manifest(
                run_id="synthetic",
                status=status,  # type: ignore[arg-type]
                profile_name="synthetic",
                profile=profile,
                target_mode=targets[0] if len(targets) == 1 else "both",
                targets=[
                    TargetInfo(color=t, url=f"http://127.0.0.1:{8000 + i}", embedded=True)
                    for i, t in enumerate(targets)
                ],
                started_at=iso(datetime.fromtimestamp(START, UTC)),
                interval_s=1.0,
                invalid_reason="generator saturated" if status == "invalid" else None,
            )
        )
        self.directory.append_event("test_start", t=START)
        if ramp_s is not None:
            self.directory.append_event("spawning_complete", t=START + ramp_s, user_count=10)
        self._samples = self.directory.samples_writer()
        self._resources = self.directory.resources_writer()
        self._figures = self.directory.figures_writer()

    @property
    def path(self) -> Path:
        return self.directory.path

    def samples(
        self,
        target: str,
        name: str,
        *,
        second: float,
        latencies_ms: Iterable[float] = (),
        outcome: str = "ok",
        count: int | None = None,
        kind: str = "http",
        user_class: str = "ChatUser",
    ) -> SyntheticRun:
        """One row: the interval [START + second, START + second + 1)."""
        encoded, timed = encode(round(ms * 1000) for ms in latencies_ms)
        total = timed if count is None else count
        t0 = START + second
        row = SampleRow(t0, t0 + 1, target, kind, name, user_class, outcome, total, timed, 0, 0, encoded)
        self._samples.write([row])
        return self

    def steady(self, target: str, name: str, latencies_ms: list[float], **kwargs: Any) -> SyntheticRun:
        """``latencies_ms`` spread one per second over the steady state (after the ramp)."""
        for index, value in enumerate(latencies_ms):
            self.samples(target, name, second=RAMP_S + 1 + index % 50, latencies_ms=[value], **kwargs)
        return self

    def resource(
        self, target: str, second: float, *, rss_mb: float, cpu_pct: float | None, role: str = "target"
    ) -> SyntheticRun:
        cpu = "" if cpu_pct is None else cpu_pct
        self._resources.write([(START + second, role, target, "4242", rss_mb, cpu, "")])
        return self

    def figure(self, target: str, name: str, value: float, *, second: float) -> SyntheticRun:
        self._figures.write(target, name, value, t=START + second)
        return self

    def finish(self, *, duration_s: float = 60.0) -> Path:
        self.directory.append_event("test_stop", t=START + duration_s, recorder_errors=0)
        self._samples.close()
        self._resources.close()
        self._figures.close()
        return self.path


def clean_run(path: Path, *, targets: tuple[str, ...] = ("blue", "green"), slos: Any = None) -> SyntheticRun:
    """A run that passes every default SLO that applies to it (no swarm, no uploads)."""
    run = SyntheticRun(path, targets=targets, slos=slos)
    for target in targets:
        for second in range(0, 60):
            run.samples(target, "chat.history", second=second, latencies_ms=[10, 12, 15, 20])
            run.samples(target, "chat.complete", second=second, latencies_ms=[400, 500], kind="sio")
            run.samples(target, "health", second=second, latencies_ms=[2], user_class="HealthProbe")
            run.resource(target, second, rss_mb=80 + second / 10, cpu_pct=20)
        for second in range(0, 5):
            run.samples(target, "auth.login", second=second, latencies_ms=[30, 31])
            run.samples(target, "chat.connect", second=second, latencies_ms=[8, 9], kind="sio")
    return run
