"""``loadbench``: thin commands over the library (parse, build a request, call one function,
render, return the exit code).

Exit codes: 0 every SLO passed · 1 an SLO failed · 2 usage or configuration error · 3 invalid run
(saturated generator, too few samples, target never ready) · 4 infrastructure error (target
unreachable, run interrupted).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from loadtests.errors import ConfigError, LoadbenchError, one_line

EXIT_CODES_HELP = (
    "Exit codes: 0 all SLOs passed, 1 an SLO failed, 2 usage/configuration error, "
    "3 invalid run (saturated generator, too few samples, target never ready), "
    "4 infrastructure error (target unreachable, run interrupted)."
)

# A CI log is not a terminal: rich would wrap tables at 80 columns there.
_WIDTH = None if sys.stdout.isatty() else 150
console = Console(stderr=False, highlight=False, soft_wrap=True, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, width=_WIDTH)


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    epilog=EXIT_CODES_HELP,
)
@click.version_option(package_name="loadbench")
def cli() -> None:
    """Load, performance and WebSocket-concurrency benchmarks for the blue (FastAPI) → green
    (NestJS + Socket.IO) migration.

    \b
    Example: start both reference backends, run the smoke profile, print the verdict:
      loadbench run
    """


# -- run -----------------------------------------------------------------------------------------
@cli.command(epilog=EXIT_CODES_HELP)
@click.option("--profile", "-p", default="smoke", show_default=True, help="Profile name in profiles/ or a YAML path.")
@click.option(
    "--target", "-t", type=click.Choice(["blue", "green", "both", "canary"]), default=None,
    help="Which colors to drive; users are split evenly between colors with --target both; canary moves "
    "them from blue to green in stages (the profile's canary shape, else 90/10, 50/50, 0/100). "
    "[default: the profile's `target`, else both]",
)  # fmt: skip
@click.option("--blue-url", help="Use this blue deployment instead of the embedded reference backend.")
@click.option("--green-url", help="Use this green deployment instead of the embedded reference backend.")
@click.option("--blue-pid", type=int, help="Sample this local process tree as blue (default: found by port).")
@click.option("--green-pid", type=int, help="Sample this local process tree as green (default: found by port).")
@click.option(
    "--allow-remote", multiple=True, metavar="HOST",
    help="Permit a non-loopback target host (repeat per host). Without it only loopback is a target.",
)  # fmt: skip
@click.option("--out", type=click.Path(path_type=Path), help="Write the run directory exactly here.")
@click.option(
    "--workers", type=click.IntRange(0, 64), default=0, show_default=True,
    help="Locust worker processes (0: one process). Workers merge their exact histograms on the master.",
)  # fmt: skip
@click.option(
    "--remote-workers", type=click.IntRange(0, 1000), default=0, show_default=True,
    help="Also wait for this many `loadbench worker --master HOST` processes on other machines.",
)  # fmt: skip
@click.option(
    "--master-bind", default="127.0.0.1", show_default=True,
    help="Address the Locust master listens on (0.0.0.0 to accept remote workers).",
)  # fmt: skip
@click.option("--master-port", type=int, help="Port the Locust master listens on (default: a free one; 5557 is usual).")
@click.option(
    "--results", type=click.Path(path_type=Path), default=Path("results"), show_default=True,
    help="Parent folder of run directories when --out is not given.",
)  # fmt: skip
@click.option(
    "--no-report", is_flag=True, help="Skip plots/ and report.html (verdict.json, junit.xml, summary.md stay)."
)
@click.option(
    "--no-preflight", is_flag=True,
    help="Skip the preflight (the probe's steps this workload needs, run once per color before the load).",
)  # fmt: skip
@click.option("--quiet", "-q", is_flag=True, help="No live view or status lines; print only the verdict line.")
@click.option("--json", "as_json", is_flag=True, help="Print only the verdict as JSON on stdout (for scripts).")
def run(
    profile: str,
    target: str | None,
    blue_url: str | None,
    green_url: str | None,
    blue_pid: int | None,
    green_pid: int | None,
    allow_remote: tuple[str, ...],
    out: Path | None,
    workers: int,
    remote_workers: int,
    master_bind: str,
    master_port: int | None,
    results: Path,
    no_report: bool,
    no_preflight: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Run a profile headless against blue, green or both, then judge it against the SLOs.

    A preflight first walks the steps this workload needs once per color (at most 10 s): a step
    that cannot work on a target (a route missing, the first socket frame refused, logins refused
    or rate-limited) stops the run before the load with exit 2 and one line saying what to change.

    In a terminal a live view shows the phase, users, requests per second, current p95s, errors
    and each SLO's state; in a CI log it becomes one status line every ten seconds.

    \b
    Examples:
      loadbench run                                   # embedded backends, smoke profile, both colors
      loadbench run --target green --out /tmp/run1    # one color, run directory at /tmp/run1
      loadbench run --green-url http://127.0.0.1:5000 --target green
      loadbench run --profile smoke --workers 2       # a local master and two worker processes
      loadbench run --profile ci --json > verdict.json
    """
    from loadtests.orchestrator import RunRequest
    from loadtests.orchestrator import run as run_profile
    from loadtests.profiles import load_profile
    from loadtests.terminal import Progress, choose_mode

    loaded = load_profile(profile)
    request = RunRequest(
        profile=loaded,
        target_mode=target or loaded.target or "both",
        urls={"blue": blue_url, "green": green_url},
        allow_remote=allow_remote,
        out=out,
        results_root=results,
        workers=workers,
        remote_workers=remote_workers,
        master_bind=master_bind,
        master_port=master_port,
        pids={color: pid for color, pid in (("blue", blue_pid), ("green", green_pid)) if pid is not None},
        report=not no_report,
        preflight=not no_preflight,
    )
    # --json keeps stdout for the JSON alone: everything else goes to stderr.
    out_console = err_console if as_json else console
    mode = choose_mode(out_console, quiet=quiet or as_json)

    def say(message: str) -> None:
        if mode != "quiet":
            out_console.print(f"[dim]·[/dim] {message}")

    with Progress(out_console, mode) as progress:
        outcome = run_profile(request, on_status=say, observer=progress)
    if outcome.judged is not None:
        _publish_step_summary(outcome.judged.markdown)
    if as_json:
        print(_json_result(outcome))
    elif quiet:
        verdict = outcome.judged.verdict if outcome.judged is not None else None
        line = verdict_summary(verdict) if verdict is not None else f"status {outcome.status}"
        console.print(f"{line}  → {outcome.run_dir}")
    else:
        if outcome.judged is not None:
            _print_judgement(outcome.judged)
            _print_outputs(outcome.run_dir)
        console.print(f"run directory: {outcome.run_dir}  (wall time {outcome.wall_s:.1f} s, status {outcome.status})")
    if outcome.reason:
        err_console.print(f"loadbench: {outcome.reason}")
    sys.exit(outcome.exit_code)


def verdict_summary(verdict) -> str:  # type: ignore[no-untyped-def]
    from analysis.report import verdict_line

    return f"verdict: {verdict_line(verdict)}"


def _json_result(outcome) -> str:  # type: ignore[no-untyped-def]
    """The run's verdict (exactly verdict.json) plus where the run lives, as one JSON document."""
    import json

    verdict_path = outcome.run_dir / "verdict.json"
    verdict = json.loads(verdict_path.read_text()) if verdict_path.exists() else None
    return json.dumps(
        {
            "run_dir": str(outcome.run_dir),
            "status": outcome.status,
            "exit_code": outcome.exit_code,
            "reason": outcome.reason or None,
            "verdict": verdict,
        },
        indent=2,
    )


def _print_outputs(run_dir: Path) -> None:
    for label, path in (("summary", run_dir / "summary.md"), ("junit", run_dir / "junit.xml"),
                        ("report", run_dir / "report.html"), ("plots", run_dir / "plots")):  # fmt: skip
        if path.exists():
            console.print(f"{label:>8}: {path}")


def _print_judgement(judged) -> None:  # type: ignore[no-untyped-def]
    from rich.markup import escape

    from analysis.report import TABLE_COLUMNS, metric_rows, verdict_line

    verdict = judged.verdict
    table = Table(title="key metrics (steady state, ok samples only in percentiles)", title_justify="left")
    for column in TABLE_COLUMNS:
        table.add_column(column, justify="right" if column.endswith(("ms", "count")) else "left")
    for row in metric_rows(judged.summaries, verdict):
        table.add_row(*(escape(cell) for cell in row))  # run text: no rich markup
    console.print(table)
    for check in verdict.checks:
        mark = {True: "[green]pass[/green]", False: "[red]FAIL[/red]", None: "[yellow]no verdict[/yellow]"}[
            check.passed
        ]
        console.print(f"  {mark}  {escape(check.explain())}")
    for note in verdict.notes:
        console.print(f"  [yellow]note[/yellow] {escape(note)}")
    colour = "green" if verdict.passed else ("red" if verdict.exit_code == 1 else "yellow")
    console.print(
        f"verdict: [{colour}]{escape(verdict_line(verdict))}[/{colour}]  → {judged.run.directory.path / 'verdict.json'}"
    )


# -- ui ------------------------------------------------------------------------------------------
@cli.command(epilog=EXIT_CODES_HELP)
@click.option("--profile", "-p", default="exploratory", show_default=True, help="Profile name or YAML path.")
@click.option("--target", "-t", type=click.Choice(["blue", "green", "both"]), default="both", show_default=True)
@click.option("--blue-url", help="Use this blue deployment instead of the embedded reference backend.")
@click.option("--green-url", help="Use this green deployment instead of the embedded reference backend.")
@click.option("--allow-remote", multiple=True, metavar="HOST", help="Permit a non-loopback target host.")
@click.option("--web-port", type=int, default=8089, show_default=True, help="Port of the Locust web UI (loopback).")
@click.option("--out", type=click.Path(path_type=Path), help="Write the run directory exactly here.")
@click.option("--results", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
def ui(
    profile: str,
    target: str,
    blue_url: str | None,
    green_url: str | None,
    allow_remote: tuple[str, ...],
    web_port: int,
    out: Path | None,
    results: Path,
) -> None:
    """Open the Locust web UI on the profile's user classes (embedded backends by default).

    Targets and dialect options are custom parameters editable on the start form; the SLO tab shows
    each SLO's live state. Everything measured is recorded exactly into a run directory, judged when
    the session ends (Ctrl-C).

    \b
    Example:
      loadbench ui --profile exploratory     # then open http://127.0.0.1:8089
    """
    from loadtests.orchestrator import RunRequest
    from loadtests.orchestrator import run as run_profile
    from loadtests.profiles import load_profile

    request = RunRequest(
        profile=load_profile(profile),
        target_mode=target,
        urls={"blue": blue_url, "green": green_url},
        allow_remote=allow_remote,
        out=out,
        results_root=results,
        web_port=web_port,
    )
    outcome = run_profile(request, on_status=lambda message: console.print(f"[dim]·[/dim] {message}"))
    if outcome.judged is not None:
        _print_judgement(outcome.judged)
    console.print(f"run directory: {outcome.run_dir}")
    sys.exit(outcome.exit_code)


# -- worker --------------------------------------------------------------------------------------
@cli.command()
@click.option("--master", "master_host", required=True, help="Host of the master (`loadbench run --remote-workers N`).")
@click.option("--master-port", type=int, default=5557, show_default=True)
@click.option("--profile", "-p", default="smoke", show_default=True, help="The same profile the master runs.")
@click.option("--target", "-t", type=click.Choice(["blue", "green", "both"]), default="both", show_default=True)
@click.option("--blue-url", help="The blue URL the master was given (reachable from this machine).")
@click.option("--green-url", help="The green URL the master was given (reachable from this machine).")
@click.option("--allow-remote", multiple=True, metavar="HOST", help="Permit a non-loopback target host.")
def worker(
    master_host: str,
    master_port: int,
    profile: str,
    target: str,
    blue_url: str | None,
    green_url: str | None,
    allow_remote: tuple[str, ...],
) -> None:
    """Join a master on another machine as a Locust worker (distributed load generation).

    \b
    Example (password in the environment, same profile and URLs as the master):
      export LOADBENCH_USER_PASSWORD=...
      loadbench worker --master 10.0.0.1 --master-port 5557 --profile ci --target green \\
          --green-url http://10.0.0.5:5000 --allow-remote 10.0.0.5
    """
    from loadtests.worker import exec_worker, worker_config

    config = worker_config(profile, target, {"blue": blue_url, "green": green_url}, allow_remote)
    exec_worker(config, master_host=master_host, master_port=master_port)


def _publish_step_summary(markdown: str) -> None:
    """In GitHub Actions, append the summary to the job's step summary page."""
    import os

    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    try:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    except OSError as error:
        err_console.print(f"loadbench: cannot append to GITHUB_STEP_SUMMARY ({target}): {error.strerror}")


def _judge(run_dir: Path, slo_file: Path | None):  # type: ignore[no-untyped-def]
    from analysis.judge import judge, run_slos
    from analysis.load import load_run
    from loadtests.slo_spec import load_slo_file

    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is not a directory")
    data = load_run(run_dir)
    specs = load_slo_file(slo_file, base=run_slos(data)) if slo_file is not None else None
    return judge(data, specs)


_SLO_OPTION = click.option(
    "--slo", "slo_file", type=click.Path(path_type=Path, dir_okay=False),
    help="YAML SLOs to judge by instead of the run's: a list of SLO specs, or {override: {name: {field: value}}, "
    "drop: [name]} applied to the run's own SLOs.",
)  # fmt: skip


# -- check ---------------------------------------------------------------------------------------
@cli.command(epilog=EXIT_CODES_HELP)
@click.argument("run_dir", type=click.Path(path_type=Path))
@_SLO_OPTION
def check(run_dir: Path, slo_file: Path | None) -> None:
    """Judge an existing run directory against its profile's SLOs (or --slo FILE).

    Writes verdict.json, junit.xml and summary.md into the run directory, and appends the summary
    to $GITHUB_STEP_SUMMARY when it is set.

    \b
    Examples:
      loadbench check results/20261126T101500Z-smoke-both
      loadbench check results/20261126T101500Z-smoke-both --slo strict.yaml
    \b
    strict.yaml:
      override: {http_p95: {threshold: 150}, error_rate: {min_samples: 500}}
      drop: [upload_success]
    """
    from analysis.judge import write_verdict

    judged = _judge(run_dir, slo_file)
    write_verdict(judged)
    _print_judgement(judged)
    _publish_step_summary(judged.markdown)
    sys.exit(judged.verdict.exit_code)


# -- report --------------------------------------------------------------------------------------
@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), help="Write the HTML here (default: RUN_DIR/report.html)."
)
@_SLO_OPTION
def report(run_dir: Path, out: Path | None, slo_file: Path | None) -> None:
    """Write plots/*.png into the run directory and one self-contained HTML report.

    The report holds the verdict, the key metrics, the run's metadata and every plot (embedded),
    so it can be attached to a CI run or mailed. Exit 0 when written, whatever the verdict.

    \b
    Example:
      loadbench report results/20261126T101500Z-smoke-both --out /tmp/smoke.html
    """
    from analysis.judge import write_report

    judged = _judge(run_dir, slo_file)
    path = write_report(judged, out)
    console.print(f"report: {path}  (plots in {judged.run.directory.path / 'plots'})")


# -- compare -------------------------------------------------------------------------------------
COMPARE_EXIT_HELP = (
    "Exit codes: 0 promote or hold, 1 rollback (a critical metric is significantly and practically worse), "
    "2 usage error or runs not comparable (different profile, load or suite versions; --force overrides), "
    "3 a run directory is unreadable."
)


@cli.command(epilog=COMPARE_EXIT_HELP)
@click.argument("runs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              help="Where comparison.json/.md/.html go (default: run B's or the paired run's directory).")  # fmt: skip
@click.option("--force", is_flag=True, help="Compare runs made with different profiles, loads or suite versions.")
@click.option("--json", "as_json", is_flag=True, help="Print comparison.json on stdout instead of the table.")
@click.option("--baseline", type=click.Path(path_type=Path), help="Compare RUN against this run, and pin it.")
@click.option("--paired", is_flag=True, help="With one run: compare its two colors even when a baseline is pinned.")
@click.option("--color-a", help="Target of run A to compare (default: blue, or the run's only target).")
@click.option("--color-b", help="Target of run B to compare (default: green, or the run's only target).")
@click.option("--threshold", "thresholds", multiple=True, metavar="NAME=VALUE",
              help="Change a decision threshold, e.g. ratio_p95=1.10 (see results/README.md).")  # fmt: skip
@click.option("--results", type=click.Path(path_type=Path, file_okay=False), default=Path("results"),
              show_default=True, help="The run index folder, where the pinned baseline is kept.")  # fmt: skip
@click.option("--no-figures", is_flag=True, help="comparison.html without its figures (seconds faster).")
def compare(
    runs: tuple[Path, ...],
    out: Path | None,
    force: bool,
    as_json: bool,
    baseline: Path | None,
    paired: bool,
    color_a: str | None,
    color_b: str | None,
    thresholds: tuple[str, ...],
    results: Path,
    no_figures: bool,
) -> None:
    """Compare blue and green statistically: per metric better / same / worse / inconclusive, and
    a scorecard: promote, hold or rollback.

    \b
    RUN_A RUN_B   A (baseline: blue, or its only target) against B (candidate: green, or its only target)
    RUN           one paired run (--target both): its blue against its green; with a pinned
                  baseline (--baseline, or loadbench history --pin), that baseline against RUN
    \b
    Examples:
      loadbench compare results/20261126T101500Z-ci-both
      loadbench compare results/…-ci-blue results/…-ci-green --out /tmp/cmp
      loadbench compare --baseline results/…-ci-both results/…-ci-both-2 --color-a green
      loadbench compare RUN --threshold ratio_p95=1.10 --json
    """
    from analysis.compare import COMPARISON_MD, Thresholds, compare_paths, to_json
    from analysis.compare_report import write_comparison
    from analysis.history import pin_baseline, read_baseline

    for path in (*runs, *([baseline] if baseline else [])):
        if not path.is_dir():
            raise ConfigError(f"{path} is not a run directory")
    overrides: dict[str, str] = {}
    for item in thresholds:  # the command line's NAME=VALUE; Thresholds converts and validates the values
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--threshold {item!r}: expected NAME=VALUE")
        overrides[name.strip()] = value.strip()
    settings = Thresholds().with_overrides(overrides)
    note = ""
    if len(runs) == 2 and baseline is None:
        run_a, run_b, single = runs[0], runs[1], None
    elif len(runs) == 1 and baseline is not None:
        run_a, run_b, single = baseline, runs[0], None
        pinned = pin_baseline(results, baseline, color=color_a)
        note = f"pinned {pinned.run} as the baseline ({results / 'baseline.json'})"
    elif len(runs) == 1:
        pin = None if paired else read_baseline(results)
        if pin is not None and Path(pin.run).resolve() != runs[0].resolve():
            run_a, run_b, single = Path(pin.run), runs[0], None
            color_a = color_a or pin.color
            note = f"against the pinned baseline {pin.run} (--paired compares the run's own colors)"
        else:
            run_a, run_b, single = None, None, runs[0]
    else:
        raise click.UsageError("give RUN (paired), RUN_A RUN_B, or --baseline RUN_A RUN_B")
    comparison = compare_paths(
        run_a, run_b, paired_run=single, thresholds=settings, force=force, color_a=color_a, color_b=color_b
    )
    target = out or (single if single is not None else run_b)
    assert target is not None
    written = write_comparison(comparison, target, figures=not no_figures)
    if as_json:
        import json

        click.echo(json.dumps(to_json(comparison), indent=2))
    else:
        _print_comparison(comparison, written, note)
    _publish_step_summary((target / COMPARISON_MD).read_text(encoding="utf-8"))
    sys.exit(comparison.exit_code)


def _print_comparison(comparison, written: list[Path], note: str) -> None:  # type: ignore[no-untyped-def]
    from rich.markup import escape

    from analysis.compare_report import conclusion, headline, scorecard_frame

    frame = scorecard_frame(comparison).drop(columns=["why"])
    table = Table(
        title=f"{comparison.b.label} (B) vs {comparison.a.label} (A), {comparison.design}", title_justify="left"
    )
    for column in frame.columns:
        table.add_column(str(column), justify="right" if column in ("n A", "n B") else "left")
    styles = {"worse": "red", "better": "green", "inconclusive": "yellow", "same": ""}
    for row in frame.itertuples(index=False):
        cells = [escape(str(cell)) for cell in row]
        style = styles[row.verdict]
        cells[2] = f"[{style}]{cells[2]}[/{style}]" if style else cells[2]
        table.add_row(*cells)
    console.print(table)
    if note:
        console.print(f"[dim]{escape(note)}[/dim]")
    for warning in comparison.warnings:
        console.print(f"  [yellow]note[/yellow] {escape(warning)}")
    console.print(escape(conclusion(comparison)))
    colour = {"promote": "green", "hold": "yellow", "rollback": "red"}[comparison.scorecard.decision]
    console.print(f"scorecard: [{colour}]{escape(headline(comparison))}[/{colour}]")
    console.print(f"comparison: {', '.join(str(path) for path in written)}")


# -- history -------------------------------------------------------------------------------------
@cli.command()
@click.option("--results", type=click.Path(path_type=Path, file_okay=False), default=Path("results"),
              show_default=True, help="The folder holding the run directories and index.csv.")  # fmt: skip
@click.option("--metric", help="List and plot this metric's p95 across runs (e.g. chat.complete, http).")
@click.option("--color", help="Only this target (blue, green).")
@click.option("--plot", type=click.Path(path_type=Path, dir_okay=False), help="Write the trend of --metric as PNG.")
@click.option("--last", type=click.IntRange(1), default=20, show_default=True, help="Runs to list.")
@click.option("--pin", type=click.Path(path_type=Path, file_okay=False),
              help="Pin this run as the baseline `loadbench compare NEW` compares with.")  # fmt: skip
@click.option("--pin-color", help="With --pin: the target of the baseline to compare (default: blue or its only one).")
@click.option("--unpin", is_flag=True, help="Forget the pinned baseline.")
@click.option("--rebuild", is_flag=True, help="Recreate index.csv from the run directories in --results.")
def history(
    results: Path,
    metric: str | None,
    color: str | None,
    plot: Path | None,
    last: int,
    pin: Path | None,
    pin_color: str | None,
    unpin: bool,
    rebuild: bool,
) -> None:
    """List past runs from the run index (results/index.csv) and a metric's trend across them.

    Every `loadbench run` adds its run (one row per target) when it ends.

    \b
    Examples:
      loadbench history
      loadbench history --metric chat.complete --color green --plot /tmp/chat-trend.png
      loadbench history --pin results/20261126T101500Z-ci-both
    """
    from rich.markup import escape

    from analysis.history import (
        read_baseline,
        read_index,
        rebuild_index,
        summary_frame,
        trend,
        trend_figure,
        unpin_baseline,
    )

    if pin is not None:
        from analysis.history import pin_baseline

        pinned = pin_baseline(results, pin, color=pin_color)
        console.print(f"baseline pinned: {pinned.run}" + (f" ({pinned.color})" if pinned.color else ""))
    if unpin:
        console.print("baseline unpinned" if unpin_baseline(results) else "no baseline was pinned")
    if rebuild:
        rebuilt = rebuild_index(results, on_skip=lambda line: console.print(f"skipped {escape(one_line(line))}"))
        console.print(f"index rebuilt: {escape(str(rebuilt))}")
    if pin is not None or unpin:
        return
    index = read_index(results)
    table_frame = summary_frame(index, metric=metric, color=color, last=last)
    table = Table(title=f"runs in {results / 'index.csv'} (newest last)", title_justify="left")
    for column in table_frame.columns:
        table.add_column(str(column))
    for row in table_frame.itertuples(index=False):
        table.add_row(*("" if pd_isna(cell) else escape(str(cell)) for cell in row))
    console.print(table)
    if metric is not None:
        series = trend(index, metric, color=color)
        if len(series):
            first, latest = series["p95_ms"].iloc[0], series["p95_ms"].iloc[-1]
            console.print(
                f"{metric} p95 over {len(series)} run rows: first {first:.4g} ms, latest {latest:.4g} ms, "
                f"min {series['p95_ms'].min():.4g}, max {series['p95_ms'].max():.4g}"
            )
        if plot is not None:
            from analysis.plots import figure_png

            plot.parent.mkdir(parents=True, exist_ok=True)
            plot.write_bytes(figure_png(trend_figure(series, metric)))
            console.print(f"trend plot: {plot}")
    elif plot is not None:
        raise click.UsageError("--plot needs --metric")
    baseline = read_baseline(results)
    if baseline is not None:
        console.print(f"pinned baseline: {baseline.run}" + (f" ({baseline.color})" if baseline.color else ""))


def pd_isna(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


# -- serve ---------------------------------------------------------------------------------------
@cli.command()
@click.argument("color", type=click.Choice(["blue", "green"]))
@click.option("--host", default="127.0.0.1", show_default=True, help="Bind address (loopback by default).")
@click.option("--port", type=int, help="Port (default: 8000 blue, 5000 green; 0 picks a free one).")
@click.option("--rest-base", default="/api", show_default=True, help="green REST base: /api, /api/v1 or /v1.")
@click.option("--event-style", type=click.Choice(["kebab", "snake"]), default="kebab", show_default=True)
@click.option("--first-token-ms", type=float, help="Simulated LLM: constant time to first token.")
@click.option("--token-gap-ms", type=float, help="Simulated LLM: constant gap between chunks.")
@click.option("--chunks", type=int, help="Simulated LLM: chunks per answer.")
@click.option("--fault-latency-ms", type=float, help="Fault: added latency on every HTTP response.")
@click.option("--fault-error-rate", type=float, help="Fault: share of HTTP requests answered 500.")
@click.option("--fault-soft-failure-rate", type=float, help="Fault: share answered 2xx with an error body.")
@click.option("--fault-memory-kb", type=float, help="Fault: memory kept forever per request (a planted leak).")
@click.option("--fault-rate-limit", is_flag=True, help="Fault: green-style per-IP fixed-window rate limits.")
@click.option("--fault-drop-end-rate", type=float, help="Fault: share of streamed answers that never end.")
@click.option("--fault-cpu-burn-ms", type=float, help="Fault: CPU time burnt per HTTP request (server CPU).")
@click.option("--fault-connect-failure-rate", type=float, help="Fault: share of real-time connections refused.")
def serve(color: str, host: str, port: int | None, rest_base: str, event_style: str, **tuning: float | None) -> None:
    """Serve the reference backend (blue or green) until Ctrl-C.

    Secrets come from the environment: LOADBENCH_JWT_SECRET and LOADBENCH_USER_PASSWORD (random
    when unset, which only suits a run that mints nothing and logs nobody in).

    \b
    Example:
      LOADBENCH_USER_PASSWORD=s3cret loadbench serve green --port 5000 --fault-rate-limit
    """
    import os

    from pydantic import ValidationError

    from contract.accounts import DEFAULT_PORTS
    from contract.knobs import Distribution
    from reference_backend.server import serve as serve_backend
    from reference_backend.settings import BackendSettings

    llm: dict[str, object] = {}
    if tuning["first_token_ms"] is not None:
        llm["first_token"] = Distribution(ms=tuning["first_token_ms"])
    if tuning["token_gap_ms"] is not None:
        llm["token_gap"] = Distribution(ms=tuning["token_gap_ms"])
    if tuning["chunks"] is not None:
        llm["chunks"] = tuning["chunks"]
    faults: dict[str, object] = {}
    if tuning["fault_latency_ms"] is not None:
        faults["latency"] = Distribution(ms=tuning["fault_latency_ms"])
    for flag, field in (
        ("fault_error_rate", "error_rate"),
        ("fault_soft_failure_rate", "soft_failure_rate"),
        ("fault_memory_kb", "memory_growth_kb_per_request"),
        ("fault_drop_end_rate", "drop_end_rate"),
        ("fault_cpu_burn_ms", "cpu_burn_ms_per_request"),
        ("fault_connect_failure_rate", "connect_failure_rate"),
    ):
        if tuning[flag] is not None:
            faults[field] = tuning[flag]
    if tuning["fault_rate_limit"]:
        faults["rate_limit"] = True
    try:
        settings = BackendSettings.model_validate(
            {
                "color": color,
                "host": host,
                "port": DEFAULT_PORTS[color] if port is None else port,
                "rest_base": rest_base,
                "event_style": event_style,
                "llm": llm,
                "faults": faults,
            }
        ).with_secrets_from(os.environ)
    except ValidationError as error:
        first = error.errors()[0]
        raise ConfigError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    console.print(f"reference backend {color} on http://{host}:{settings.port} (Ctrl-C stops it)")
    try:
        serve_backend(settings)
    except OSError as error:
        raise ConfigError(f"cannot listen on {host}:{settings.port}: {error.strerror}") from None


# -- doctor --------------------------------------------------------------------------------------
@cli.command()
@click.option("--connections", type=int, default=10_000, show_default=True, help="Connections you plan to hold.")
@click.option("--blue-url", help="A blue deployment to check (default: the embedded one).")
@click.option("--green-url", help="A green deployment to check (default: the embedded one).")
@click.option("--allow-remote", multiple=True, metavar="HOST", help="Permit a non-loopback target host.")
def doctor(connections: int, blue_url: str | None, green_url: str | None, allow_remote: tuple[str, ...]) -> None:
    """Check this machine before a big run: open-file limit, ephemeral ports, free memory and CPU,
    versions of Locust and python-socketio, reachability of the targets; say what to change.

    Exits 0 when nothing fails (warnings allowed), 2 otherwise.

    \b
    Example:
      loadbench doctor --connections 10000 --green-url http://127.0.0.1:5000
    """
    from loadtests.doctor import diagnose

    findings = diagnose(connections=connections, urls={"blue": blue_url, "green": green_url}, allow_remote=allow_remote)
    table = Table(show_edge=False)
    for column in ("check", "", "found", "what to change"):
        table.add_column(column)
    marks = {"ok": "[green]ok[/green]", "warn": "[yellow]warn[/yellow]", "fail": "[red]FAIL[/red]"}
    for finding in findings:
        table.add_row(finding.check, marks[finding.level], finding.found, finding.advice)
    console.print(table)
    failed = [finding.check for finding in findings if finding.level == "fail"]
    if failed:
        err_console.print(f"loadbench: doctor: fix {', '.join(failed)} before a run of this size")
        sys.exit(2)


# -- probe ---------------------------------------------------------------------------------------
PROBE_EXIT_HELP = (
    "Exit codes: 0 green passes every case blue passes (one color: it keeps its contract on every case), "
    "1 green breaks a case blue passes (one color: it fails a case), 2 usage or configuration error, "
    "4 infrastructure error (target unreachable)."
)


@cli.command(epilog=PROBE_EXIT_HELP)
@click.option("--profile", "-p", default="smoke", show_default=True,
              help="Profile for credentials (auth), dialect options and the embedded backends' settings.")  # fmt: skip
@click.option("--target", "-t", type=click.Choice(["blue", "green", "both"]), default="both", show_default=True)
@click.option("--blue-url", help="Probe this blue deployment instead of the embedded reference backend.")
@click.option("--green-url", help="Probe this green deployment instead of the embedded reference backend.")
@click.option("--allow-remote", multiple=True, metavar="HOST", help="Permit a non-loopback target host.")
@click.option("--out", type=click.Path(path_type=Path), help="Write compat.json and compat.md exactly here.")
@click.option("--results", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
@click.option("--burst", is_flag=True, help="Also send a short burst past green's 60 requests/min limit and report it.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.5, 60), default=5.0, show_default=True,
              help="Seconds each step may take.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print compat.json on stdout instead of the table.")
def probe(
    profile: str,
    target: str,
    blue_url: str | None,
    green_url: str | None,
    allow_remote: tuple[str, ...],
    out: Path | None,
    results: Path,
    burst: bool,
    timeout_s: float,
    as_json: bool,
) -> None:
    """Walk every route and socket flow of the contract once per color, positive and negative cases,
    and report where green differs from blue (API compatibility).

    Per case it records status, outcome, latency, response shape (keys and JSON types), error-body
    format and secret-looking fields; it writes compat.json and compat.md and prints the table.

    \b
    Examples:
      loadbench probe                                   # both embedded reference backends
      loadbench probe --target green --green-url http://127.0.0.1:5000
      loadbench probe --burst                           # also look for the rate limiter
    """
    from analysis import compat
    from loadtests.probe.command import ProbeRequest, run_probe
    from loadtests.profiles import load_profile

    request = ProbeRequest(
        profile=load_profile(profile),
        target_mode=target,
        urls={"blue": blue_url, "green": green_url},
        allow_remote=allow_remote,
        out=out,
        results_root=results,
        burst=burst,
        timeout_s=timeout_s,
    )
    outcome = run_probe(request)
    if as_json:
        print(json.dumps(outcome.document, indent=2))
    else:
        _print_compat(outcome.document)
        console.print(f"compat.json, compat.md: {outcome.out}")
    _publish_step_summary(compat.markdown(outcome.document))
    sys.exit(outcome.exit_code)


def _print_compat(document: dict) -> None:  # type: ignore[type-arg]
    from rich.markup import escape

    from analysis.compat import summarize

    summary = summarize(document)
    table = Table(title="API compatibility (CONTRACT.md, case by case)", title_justify="left")
    table.add_column("case")
    for color in summary.colors:
        table.add_column(color)
    table.add_column("differences" if len(summary.colors) == 2 else "problems")
    for row in summary.rows:
        extra = row.differences or [
            p for c in summary.colors for p in summary.failures[c] if p.startswith(row.id + ":")
        ]
        name = f"[red]{escape(row.id)}[/red]" if row.broken else escape(row.id)
        table.add_row(name, *(escape(row.cells[c]) for c in summary.colors), escape("; ".join(extra)))
    console.print(table)
    for title, items in (("green breaks", summary.breaks), ("defect", summary.defects),
                         ("secret-looking field", summary.secrets)):  # fmt: skip
        for item in items:
            console.print(f"  [yellow]{title}[/yellow] {escape(item)}")
    colour = "red" if summary.exit_code else "green"
    console.print(f"[{colour}]{escape(summary.headline)}[/{colour}]")


# -- profiles ------------------------------------------------------------------------------------
@cli.command()
def profiles() -> None:
    """List the profiles in profiles/ with what each is for.

    \b
    Example:
      loadbench profiles
    """
    from loadtests.profiles import available_profiles, load_profile

    table = Table(show_edge=False)
    for column in ("profile", "users", "duration", "what it is for"):
        table.add_column(column)
    for name in available_profiles():
        try:
            profile = load_profile(name)
        except ConfigError as error:
            table.add_row(name, "", "", f"[red]invalid: {error}[/red]")
            continue
        table.add_row(name, str(profile.users), f"{profile.duration_s:g} s", profile.description)
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    try:
        cli.main(args=argv, prog_name="loadbench", standalone_mode=False)
    except LoadbenchError as error:
        error.show()
        return error.exit_code
    except OSError as error:  # a full disk, a read-only folder: one line, not a traceback
        where = f" {error.filename}" if error.filename else ""
        err_console.print(f"loadbench: infrastructure error: cannot write or read{where}: {error.strerror or error}")
        return 4
    except click.exceptions.Abort:
        err_console.print("loadbench: interrupted")
        return 4
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
