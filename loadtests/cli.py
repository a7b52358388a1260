"""``loadbench``: thin commands over the library (parse, build a request, call one function,
render, return the exit code).

Exit codes: 0 every SLO passed · 1 an SLO failed · 2 usage or configuration error · 3 invalid run
(saturated generator, too few samples, target never ready) · 4 infrastructure error (target
unreachable, run interrupted).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from loadtests import cli_gate, cli_tools, render, step_summary
from loadtests.cli_gate import parse_assignments
from loadtests.errors import ConfigError, LoadbenchError
from loadtests.render import console, err_console, escape

EXIT_CODES_HELP = (
    "Exit codes: 0 all SLOs passed, 1 an SLO failed, 2 usage/configuration error, "
    "3 invalid run (saturated generator, too few samples, target never ready), "
    "4 infrastructure error (target unreachable, run interrupted)."
)


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
@click.option(
    "--status-every", type=click.FloatRange(1, 3600), default=10, show_default=True, metavar="SECONDS",
    help="Outside a terminal (a CI log): one status line this often.",
)  # fmt: skip
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
    status_every: float,
    as_json: bool,
) -> None:
    """Run a profile headless against blue, green or both, then judge it against the SLOs.

    A preflight first walks the steps this workload needs once per color (at most 10 s): a step
    that cannot work on a target (a route missing, the first socket frame refused, logins refused
    or rate-limited) stops the run before the load with exit 2 and one line saying what to change.

    In a terminal a live view shows the phase, users, requests per second, current p95s, errors
    and each SLO's state; in a CI log it becomes one status line every ten seconds (--status-every).

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
            out_console.print(f"[dim]·[/dim] {escape(message)}")

    with Progress(out_console, mode, log_every_s=status_every) as progress:
        outcome = run_profile(request, on_status=say, observer=progress)
    if outcome.judged is not None:
        step_summary.publish(outcome.judged.markdown, warn=render.warn)
    if as_json:
        from loadtests.recorder.rundir import VERDICT, RunDirectory

        directory = RunDirectory(outcome.run_dir)
        print(render.json_result(outcome, directory.read_verdict() if directory.file(VERDICT).exists() else None))
    elif quiet:
        verdict = outcome.judged.verdict if outcome.judged is not None else None
        line = render.verdict_summary(verdict) if verdict is not None else f"status {outcome.status}"
        console.print(escape(f"{line}  → {outcome.run_dir}"))
    else:
        if outcome.judged is not None:
            render.print_judgement(outcome.judged)
            render.print_outputs(outcome.run_dir)
        wall = f"(wall time {outcome.wall_s:.1f} s, status {outcome.status})"
        console.print(escape(f"run directory: {outcome.run_dir}  {wall}"))
    if outcome.reason:
        render.warn(f"loadbench: {outcome.reason}")
    sys.exit(outcome.exit_code)


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
    outcome = run_profile(request, on_status=lambda message: console.print(f"[dim]·[/dim] {escape(message)}"))
    if outcome.judged is not None:
        render.print_judgement(outcome.judged)
    console.print(escape(f"run directory: {outcome.run_dir}"))
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


def _judge(run_dir: Path, slo_file: Path | None, basis: str | None = None):  # type: ignore[no-untyped-def]
    from analysis.judge import judge, run_slos
    from analysis.load import load_run
    from loadtests.slo_spec import load_slo_file

    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is not a directory")
    data = load_run(run_dir, basis=basis)  # type: ignore[arg-type]
    specs = load_slo_file(slo_file, base=run_slos(data)) if slo_file is not None else None
    return judge(data, specs)


_SLO_OPTION = click.option(
    "--slo", "slo_file", type=click.Path(path_type=Path, dir_okay=False),
    help="YAML SLOs to judge by instead of the run's: a list of SLO specs, or {override: {name: {field: value}}, "
    "drop: [name]} applied to the run's own SLOs.",
)  # fmt: skip


_BASIS_OPTION = click.option(
    "--basis", type=click.Choice(["response", "service"]),
    help="Latencies of an open-model run: response times from each operation's intended start "
    "(the default where the run has them) or service times from the send.",
)  # fmt: skip


# -- check ---------------------------------------------------------------------------------------
@cli.command(epilog=EXIT_CODES_HELP)
@click.argument("run_dir", type=click.Path(path_type=Path))
@_SLO_OPTION
@_BASIS_OPTION
def check(run_dir: Path, slo_file: Path | None, basis: str | None) -> None:
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

    judged = _judge(run_dir, slo_file, basis)
    write_verdict(judged)
    render.print_judgement(judged)
    step_summary.publish(judged.markdown, warn=render.warn)
    sys.exit(judged.verdict.exit_code)


# -- report --------------------------------------------------------------------------------------
@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), help="Write the HTML here (default: RUN_DIR/report.html)."
)
@_SLO_OPTION
@_BASIS_OPTION
def report(run_dir: Path, out: Path | None, slo_file: Path | None, basis: str | None) -> None:
    """Write plots/*.png into the run directory and one self-contained HTML report.

    The report holds the verdict, the key metrics, the run's metadata and every plot (embedded),
    so it can be attached to a CI run or mailed. Exit 0 when written, whatever the verdict.

    \b
    Example:
      loadbench report results/20261126T101500Z-smoke-both --out /tmp/smoke.html
    """
    from analysis.judge import write_report

    judged = _judge(run_dir, slo_file, basis)
    path = write_report(judged, out)
    console.print(escape(f"report: {path}  (plots in {judged.run.directory.path / 'plots'})"))


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
@_BASIS_OPTION
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
    basis: str | None,
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
    settings = Thresholds().with_overrides(parse_assignments(thresholds))  # NAME=VALUE; Thresholds checks values
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
        run_a, run_b, paired_run=single, thresholds=settings, force=force, color_a=color_a, color_b=color_b,
        basis=basis,  # type: ignore[arg-type]
    )  # fmt: skip
    target = out or (single if single is not None else run_b)
    assert target is not None
    written = write_comparison(comparison, target, figures=not no_figures)
    if as_json:
        import json

        click.echo(json.dumps(to_json(comparison), indent=2))
    else:
        render.print_comparison(comparison, written, note)
    step_summary.publish((target / COMPARISON_MD).read_text(encoding="utf-8"), warn=render.warn)
    sys.exit(comparison.exit_code)


for _command in (
    cli_tools.doctor,
    cli_gate.gate,
    cli_tools.history,
    cli_tools.probe,
    cli_tools.profiles,
    cli_tools.serve,
):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> int:
    try:
        cli.main(args=argv, prog_name="loadbench", standalone_mode=False)
    except LoadbenchError as error:
        error.show()
        return error.exit_code
    except OSError as error:  # a full disk, a read-only folder: one line, not a traceback
        where = f" {error.filename}" if error.filename else ""
        render.warn(f"loadbench: infrastructure error: cannot write or read{where}: {error.strerror or error}")
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
