"""``loadbench doctor``: is this machine ready for the run you plan? Each check says what it found
and, when it is not fine, what to change. Pure checks over readings (``Finding`` values); the CLI
renders them.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from loadtests.swarm import preflight
from loadtests.targets import check_url

Level = Literal["ok", "warn", "fail"]
MB = 1024 * 1024


@dataclass(frozen=True)
class Finding:
    check: str
    level: Level
    found: str
    advice: str = ""


def _package(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_open_files(connections: int, limits: preflight.HostLimits) -> Finding:
    needed = connections + preflight.FD_OVERHEAD
    found = f"soft {limits.nofile_soft}, hard {limits.nofile_hard}; {connections} connections need ~{needed}"
    if needed > limits.nofile_hard:
        workers = -(-connections // max(limits.nofile_hard - preflight.FD_OVERHEAD, 1))
        return Finding("open files", "fail", found, f"the hard limit caps one process: use --workers {workers}")
    if needed > limits.nofile_soft:
        return Finding("open files", "warn", found, f"loadbench raises the soft limit itself; or `ulimit -n {needed}`")
    return Finding("open files", "ok", found)


def check_ports(connections: int, limits: preflight.HostLimits) -> Finding:
    usable = int(limits.ports * preflight.PORT_RANGE_USE)
    found = f"ephemeral range {limits.port_range[0]}-{limits.port_range[1]} ({usable} usable per target)"
    if connections > usable:
        return Finding(
            "ephemeral ports", "fail", found,
            "add swarm.source_addresses (each has its own range), widen net.ipv4.ip_local_port_range or lower users",
        )  # fmt: skip
    return Finding("ephemeral ports", "ok", found)


def check_memory(connections: int, limits: preflight.HostLimits) -> Finding:
    client_kb = preflight.CLIENT_KB_PER_CONNECTION["asyncio"]  # the default swarm engine's
    needed = int(connections * (client_kb + preflight.SERVER_KB_PER_CONNECTION) * 1024)
    found = f"{limits.available_bytes / 2**30:.1f} GiB available; ~{needed / 2**30:.2f} GiB needed"
    if needed > limits.available_bytes:
        return Finding("memory", "fail", found, "lower the connection count or free memory")
    if limits.available_bytes < 1024 * MB:
        return Finding("memory", "warn", found, "less than 1 GiB free: a run may swap")
    return Finding("memory", "ok", found)


def check_cpu(cpus: int | None, load1: float) -> Finding:
    found = f"{cpus or '?'} cores, load {load1:.2f}"
    if cpus and load1 > 0.5 * cpus:
        return Finding("CPU", "warn", found, "the machine is busy: figures will be noisy (compare runs side by side)")
    if cpus is not None and cpus < 2:
        return Finding("CPU", "warn", found, "one core: generator and server will share it")
    return Finding("CPU", "ok", found)


def check_versions() -> list[Finding]:
    findings = []
    for name, minimum in (("locust", (2, 46, 2)), ("python-socketio", (5, 11, 0))):
        version = _package(name)
        if version is None:
            findings.append(Finding(name, "fail", "not installed", 'python -m pip install -e ".[dev]"'))
            continue
        parts = tuple(int(p) for p in version.split(".")[:3] if p.isdigit())
        level: Level = "ok" if parts >= minimum else "fail"
        advice = "" if level == "ok" else f"needs >= {'.'.join(map(str, minimum))}"
        findings.append(Finding(name, level, version, advice))
    return findings


def check_target(color: str, url: str, allow_remote: tuple[str, ...], get: Callable[[str], int]) -> Finding:
    try:
        base = check_url(url, allow_remote=allow_remote, flag=f"--{color}-url")
    except Exception as error:  # a ConfigError: say it here instead of stopping the other checks
        return Finding(f"{color} target", "fail", url, str(error))
    try:
        status = get(base + "/")
    except Exception as error:
        return Finding(f"{color} target", "fail", f"{base}: {type(error).__name__}", "is it running? is the URL right?")
    return Finding(f"{color} target", "ok", f"{base} answers (HTTP {status})")


def diagnose(*, connections: int, urls: dict[str, str | None], allow_remote: tuple[str, ...] = ()) -> list[Finding]:
    import httpx

    limits = preflight.read_limits()
    findings = [
        check_open_files(connections, limits),
        check_ports(connections, limits),
        check_memory(connections, limits),
        check_cpu(os.cpu_count(), os.getloadavg()[0]),
        *check_versions(),
    ]
    for color, url in urls.items():
        if url:
            findings.append(check_target(color, url, allow_remote, lambda u: httpx.get(u, timeout=5).status_code))
        else:
            findings.append(Finding(f"{color} target", "ok", "embedded reference backend (started by loadbench run)"))
    return findings
