"""``loadbench`` commands around a run: its history, the reference backend served alone, the
machine's check (doctor), the API-compatibility probe and the list of profiles. Thin like the
rest of the CLI (``loadtests.cli``, which adds them to its group): parse, call one function,
render (``loadtests.render``), return the exit code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from loadtests import render, step_summary
from loadtests.errors import ConfigError, one_line
from loadtests.render import console, err_console, escape

__all__ = ["doctor", "history", "probe", "profiles", "serve"]


# -- history -------------------------------------------------------------------------------------
@click.command()
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
        console.print(escape(f"baseline pinned: {pinned.run}" + (f" ({pinned.color})" if pinned.color else "")))
    if unpin:
        console.print("baseline unpinned" if unpin_baseline(results) else "no baseline was pinned")
    if rebuild:
        rebuilt = rebuild_index(results, on_skip=lambda line: console.print(f"skipped {escape(one_line(line))}"))
        console.print(f"index rebuilt: {escape(str(rebuilt))}")
    if pin is not None or unpin:
        return
    index = read_index(results)
    table_frame = summary_frame(index, metric=metric, color=color, last=last)
    render.print_frame(table_frame, title=f"runs in {results / 'index.csv'} (newest last)")
    if metric is not None:
        series = trend(index, metric, color=color)
        if len(series):
            first, latest = series["p95_ms"].iloc[0], series["p95_ms"].iloc[-1]
            console.print(
                escape(
                    f"{metric} p95 over {len(series)} run rows: first {first:.4g} ms, latest {latest:.4g} ms, "
                    f"min {series['p95_ms'].min():.4g}, max {series['p95_ms'].max():.4g}"
                )
            )
        if plot is not None:
            from analysis.plots import figure_png

            plot.parent.mkdir(parents=True, exist_ok=True)
            plot.write_bytes(figure_png(trend_figure(series, metric)))
            console.print(escape(f"trend plot: {plot}"))
    elif plot is not None:
        raise click.UsageError("--plot needs --metric")
    baseline = read_baseline(results)
    if baseline is not None:
        console.print(escape(f"pinned baseline: {baseline.run}" + (f" ({baseline.color})" if baseline.color else "")))


# -- serve ---------------------------------------------------------------------------------------
@click.command()
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

    from loadtests.embedded import serve as serve_backend
    from loadtests.embedded import serve_settings

    settings = serve_settings(
        color, host=host, port=port, rest_base=rest_base, event_style=event_style, tuning=tuning, environ=os.environ
    )
    console.print(escape(f"reference backend {color} on http://{host}:{settings.port} (Ctrl-C stops it)"))
    serve_backend(settings)


# -- doctor --------------------------------------------------------------------------------------
@click.command()
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
    render.print_findings(findings)
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


@click.command(epilog=PROBE_EXIT_HELP)
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
        render.print_compat(outcome.document)
        console.print(escape(f"compat.json, compat.md: {outcome.out}"))
    step_summary.publish(compat.markdown(outcome.document), warn=render.warn)
    sys.exit(outcome.exit_code)


# -- profiles ------------------------------------------------------------------------------------
@click.command()
def profiles() -> None:
    """List the profiles in profiles/ with what each is for.

    \b
    Example:
      loadbench profiles
    """
    from loadtests.profiles import available_profiles, load_profile

    loaded: list[tuple[str, object]] = []
    for name in available_profiles():
        try:
            loaded.append((name, load_profile(name)))
        except ConfigError as error:
            loaded.append((name, error))
    render.print_profiles(loaded)
