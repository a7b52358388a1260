"""The terminal face of ``loadbench run``: a live view in a terminal, a compact status line every
ten seconds in a CI log, nothing with ``--quiet``.

``Progress`` is the orchestrator's ``RunObserver``: it owns a ``RunWatcher`` on the run directory and
a thread that renders it. The live view is rich's ``Live`` (redrawn in place); the log lines are
plain text with no control characters, so a CI log reads line by line.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType
from typing import Literal

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from loadtests.live import LiveCheck
from loadtests.progress import KEY_LATENCIES, RunWatcher, Snapshot

Mode = Literal["live", "log", "quiet"]
LOG_EVERY_S = 10.0
LIVE_REFRESH_S = 0.5
COLORS = {"blue": "blue", "green": "green"}


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.1f} ms"


def _failures(snapshot_failures: dict[str, int]) -> tuple[int, int]:
    rate_limited = snapshot_failures.get("rate_limited", 0)
    return sum(snapshot_failures.values()) - rate_limited, rate_limited


def status_line(snapshot: Snapshot) -> str:
    """One plain line for a CI log: time, phase, each color, the SLOs."""
    parts = [f"[{snapshot.elapsed_s:4.0f}/{snapshot.total_s:.0f} s] {snapshot.phase}"]
    for color, status in snapshot.colors.items():
        errors, limited = _failures(status.failures)
        users = "-" if status.users is None else str(status.users)
        conns = f" {status.connections} conns" if status.connections is not None else ""
        latencies = " ".join(f"{label} {_ms(status.p95_ms.get(label))}" for _, label in KEY_LATENCIES)
        arrivals = ""
        if status.arrivals_target is not None:
            arrivals = (
                f" arrivals {status.arrivals_started or 0:.1f}/{status.arrivals_target:.1f} per s"
                f" ({status.missed} missed)"
            )
        parts.append(
            f"{color}: {users} users{conns} {status.rps:.1f} req/s{arrivals} {latencies} errors {errors} 429s {limited}"
        )
    counts = snapshot.slo_counts
    failing = [f"{c.name}[{c.target}]" for c in snapshot.slos if c.state == "fail"]
    slo = f"SLO {counts['pass']} pass {counts['fail']} fail {counts['no verdict']} pending"
    parts.append(slo + (f" ({', '.join(failing)})" if failing else ""))
    return " | ".join(parts)


def _bar(share: float, width: int = 40) -> str:
    done = round(share * width)
    return "━" * done + "╺" + "─" * max(width - done - 1, 0) if done < width else "━" * width


def live_view(snapshot: Snapshot) -> Group:
    share = min(snapshot.elapsed_s / snapshot.total_s, 1.0) if snapshot.total_s else 0.0
    header = Text.assemble(
        (f"{snapshot.phase:<16}", "bold"),
        (_bar(share), "magenta"),
        f" {snapshot.elapsed_s:4.0f} s / {snapshot.total_s:.0f} s",
    )
    table = Table(show_edge=False, pad_edge=False, box=None)
    open_model = any(status.arrivals_target is not None for status in snapshot.colors.values())
    arrival_columns = ["arrivals/s (target)", "missed"] if open_model else []
    columns = ["color", "users", "conns", "req/s", *arrival_columns, *(label for _, label in KEY_LATENCIES),
               "errors", "429s"]  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "color" else "right")
    for color, status in snapshot.colors.items():
        errors, limited = _failures(status.failures)
        arrivals = []
        if open_model:
            target = status.arrivals_target
            arrivals = [
                "-" if target is None else f"{status.arrivals_started or 0:.1f} ({target:.1f})",
                Text(str(status.missed), style="yellow" if status.missed else ""),
            ]
        table.add_row(
            Text(color, style=COLORS.get(color, "")),
            "-" if status.users is None else str(status.users),
            "-" if status.connections is None else str(status.connections),
            f"{status.rps:.1f}",
            *arrivals,
            *(_ms(status.p95_ms.get(label)) for _, label in KEY_LATENCIES),
            Text(str(errors), style="red" if errors else ""),
            Text(str(limited), style="yellow" if limited else ""),
        )
    return Group(header, Text(""), table, Text(""), _slo_table(snapshot))


def _slo_table(snapshot: Snapshot) -> Table | Text:
    """One row per SLO, one column per color: current value and state."""
    if not snapshot.slos:
        return Text("SLOs: judged every few seconds", style="dim")
    colors = list(snapshot.colors)
    table = Table(show_edge=False, pad_edge=False, box=None)
    table.add_column("SLO")
    for color in colors:
        table.add_column(color, style=COLORS.get(color, ""))
    table.add_column("threshold", style="dim")
    marks = {"pass": "[green]✓[/green]", "fail": "[red]✗[/red]", "no verdict": "[dim]…[/dim]"}
    rows: dict[str, dict[str, LiveCheck]] = {}
    for check in snapshot.slos:
        rows.setdefault(check.name, {})[check.target] = check
    for name, by_color in rows.items():
        cells = []
        for color in colors:
            check = by_color.get(color)
            value = "-" if check is None or check.observed is None else f"{check.observed:.4g}"
            cells.append(f"{marks[check.state]} {value}" if check else "")
        threshold = next(iter(by_color.values())).threshold
        table.add_row(escape(name), *cells, escape(threshold))
    return table


class Progress:
    def __init__(self, console: Console, mode: Mode, *, log_every_s: float = LOG_EVERY_S) -> None:
        self.console = console
        self.mode = mode
        self.log_every_s = log_every_s  # a CI log's status lines
        self._watcher: RunWatcher | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live: Live | None = None
        self._lock = threading.Lock()

    # -- RunObserver --------------------------------------------------------------------------
    def opened(self, run_dir: Path, colors: list[str], total_s: float) -> None:
        if self.mode == "quiet":
            return
        self._watcher = RunWatcher(run_dir, colors, total_s=total_s)
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)
        self._thread.start()

    def phase(self, name: str) -> None:
        if self._watcher is not None:
            self._watcher.set_phase(name)
            if self.mode == "log":
                self.console.print(escape(f"phase: {name}"))

    def slos(self, checks: list[LiveCheck]) -> None:
        if self._watcher is not None:
            self._watcher.slos = checks

    def closed(self) -> None:
        self._finish()

    # -- rendering ----------------------------------------------------------------------------
    def _loop(self) -> None:
        assert self._watcher is not None
        if self.mode == "live":
            with Live(console=self.console, refresh_per_second=4, transient=False) as live:
                self._live = live
                while not self._stop.wait(LIVE_REFRESH_S):
                    live.update(live_view(self._watcher.poll()))
                live.update(live_view(self._watcher.poll()))
            return
        while not self._stop.wait(self.log_every_s):
            self.console.print(escape(status_line(self._watcher.poll())))

    def _finish(self) -> None:
        with self._lock:
            self._stop.set()
            if self._thread is not None:
                self._thread.join(timeout=10)
                self._thread = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._finish()


def choose_mode(console: Console, *, quiet: bool) -> Mode:
    if quiet:
        return "quiet"
    return "live" if console.is_terminal else "log"
