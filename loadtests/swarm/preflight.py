"""Refuse a swarm this machine cannot hold, before anything starts (not halfway through a ramp).

Three limits decide it (research/feasibility.md, measured here):

- open files per process: every connection is a socket, in the Locust process holding it and in
  the one-process embedded backend serving it. This sandbox caps both at 20,000 (hard limit, not
  raisable). The soft limit is raised to what the run needs where the hard limit allows (children
  inherit it).
- ephemeral ports: every connection to one target ``ip:port`` takes a local port from
  ``ip_local_port_range`` (28,232 here), shared by all local processes.
- memory: about 25 KB per connection in the generator (50 KB on the gevent engine) and 50 KB in a
  python-socketio server.

``check(plan, limits)`` is a pure function (tests give it made-up limits); ``ensure(plan)`` reads
the real ones, raises the soft limit, and raises ``ConfigError`` with one line saying what to
change.
"""

from __future__ import annotations

import ipaddress
import math
import resource
import socket
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from loadtests.errors import ConfigError

FD_OVERHEAD = 256  # files a process needs besides its connections: Locust/uvicorn, logs, HTTP, ZMQ
# The generator's memory per connection, by swarm engine, with margin: asyncio measured 19.3-19.6 KB
# (a Locust user, its session and socket), gevent (the sync client in a greenlet) 45 KB
# (benchmarks/swarm_hold.py at 10,000).
CLIENT_KB_PER_CONNECTION = {"asyncio": 25.0, "gevent": 50.0}
SERVER_KB_PER_CONNECTION = 50.0  # python-socketio / uvicorn server, with margin
PORT_RANGE_USE = 0.9  # leave a tenth of the ephemeral range for TIME_WAIT (churn, storms) and others
PORT_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


@dataclass(frozen=True)
class SwarmPlan:
    """What the run will hold. ``per_target``: connections per target color; ``processes``: Locust
    processes holding users; ``embedded``: colors served by one embedded backend process each."""

    per_target: dict[str, int]
    processes: int = 1
    embedded: tuple[str, ...] = ()
    local_processes: int | None = None  # of ``processes``, those on this machine (None: all)
    sources: tuple[str, ...] = ()  # swarm.source_addresses: each has its own ephemeral ports
    loopback_targets: bool = True  # every target is on this machine's loopback
    client_kb: float = CLIENT_KB_PER_CONNECTION["asyncio"]  # the generator's memory per connection

    @property
    def local_share(self) -> float:
        """The part of the swarm this machine holds (remote workers hold the rest)."""
        if self.local_processes is None:
            return 1.0
        return min(self.local_processes, self.processes) / max(self.processes, 1)

    @property
    def connections(self) -> int:
        return sum(self.per_target.values())

    @property
    def per_process(self) -> int:
        return math.ceil(self.connections / max(self.processes, 1))


@dataclass(frozen=True)
class HostLimits:
    nofile_soft: int
    nofile_hard: int  # resource.RLIM_INFINITY is a very large number: fine for comparisons
    port_range: tuple[int, int]
    available_bytes: int

    @property
    def ports(self) -> int:
        return self.port_range[1] - self.port_range[0] + 1


@dataclass(frozen=True)
class PreflightReport:
    plan: SwarmPlan
    limits: HostLimits
    files_needed: int  # per process, the larger of generator and embedded server
    memory_needed_bytes: int
    raised_soft_to: int | None = None
    notes: list[str] = field(default_factory=list)


def read_limits() -> HostLimits:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        low, high = (int(part) for part in PORT_RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999  # Linux's default
    return HostLimits(soft, hard, (low, high), psutil.virtual_memory().available)


def files_needed(plan: SwarmPlan) -> tuple[int, int]:
    """Open files needed by one generator process and by the busiest embedded backend."""
    server = max((plan.per_target.get(color, 0) for color in plan.embedded), default=0)
    return plan.per_process + FD_OVERHEAD, (server + FD_OVERHEAD if server else 0)


def check(plan: SwarmPlan, limits: HostLimits) -> PreflightReport:
    """The report, or ``ConfigError`` naming the first limit the plan exceeds and what to change."""
    generator_files, server_files = files_needed(plan)
    hard = limits.nofile_hard
    if generator_files > hard:
        need_processes = math.ceil(plan.connections / max(hard - FD_OVERHEAD, 1))
        raise ConfigError(
            f"swarm: {plan.per_process} connections per Locust process need ~{generator_files} open files, "
            f"but the hard limit is {hard} per process; use --workers {need_processes} or fewer users"
        )
    if server_files > hard:
        busiest = max(plan.embedded, key=lambda color: plan.per_target.get(color, 0))
        raise ConfigError(
            f"swarm: the embedded {busiest} backend is one process and {plan.per_target[busiest]} connections "
            f"need ~{server_files} open files, but the hard limit is {hard}; lower users to "
            f"{hard - FD_OVERHEAD} or less, or drive an external target (--{busiest}-url)"
        )
    _check_sources(plan)
    sources = max(len(plan.sources), 1)
    usable_ports = int(limits.ports * PORT_RANGE_USE)
    for color, count in sorted(plan.per_target.items()):
        local = math.ceil(count * plan.local_share)
        if local > usable_ports * sources:
            raise ConfigError(
                f"swarm: {local} connections from this machine to the {color} target need as many local "
                f"ports, but the ephemeral range {limits.port_range[0]}-{limits.port_range[1]} leaves "
                f"{usable_ports} per source address ({sources} in use); add swarm.source_addresses "
                f"(e.g. [127.0.0.1, 127.0.0.2] for a loopback target), widen net.ipv4.ip_local_port_range, "
                "or lower users"
            )
    local_connections = math.ceil(plan.connections * plan.local_share)
    embedded_connections = sum(plan.per_target.get(color, 0) for color in plan.embedded)
    memory = int((local_connections * plan.client_kb + embedded_connections * SERVER_KB_PER_CONNECTION) * 1024)
    if memory > limits.available_bytes:
        raise ConfigError(
            f"swarm: {local_connections} connections need ~{memory / 2**30:.1f} GiB "
            f"(~{plan.client_kb:g} KB each in the generator, ~{SERVER_KB_PER_CONNECTION:g} KB in an "
            f"embedded server), but only {limits.available_bytes / 2**30:.1f} GiB is available; lower users"
        )
    return PreflightReport(plan, limits, max(generator_files, server_files), memory)


def _check_sources(plan: SwarmPlan) -> None:
    """Every source address is this machine's (it binds), loopback for a loopback target and not for
    another machine's (the kernel routes neither)."""
    for source in plan.sources:
        loopback = ipaddress.ip_address(source).is_loopback
        if plan.loopback_targets and not loopback:
            raise ConfigError(
                f"swarm: source address {source} cannot reach a loopback target; use loopback ones "
                "(any 127.x.y.z, e.g. 127.0.0.2)"
            )
        if loopback and not plan.loopback_targets:
            raise ConfigError(
                f"swarm: source address {source} is loopback and cannot reach a target on another machine; "
                "use addresses of the interface that reaches it"
            )
        family = socket.AF_INET6 if ":" in source else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.bind((source, 0))
        except OSError as error:
            raise ConfigError(
                f"swarm: source address {source} is not this machine's ({error.strerror or error}); "
                "assign it to an interface or drop it from swarm.source_addresses"
            ) from None


def ensure(plan: SwarmPlan) -> PreflightReport:
    """Check the real limits and raise this process's soft open-file limit to what the run needs
    (its children, the backends and Locust, inherit it)."""
    limits = read_limits()
    report = check(plan, limits)
    needed = report.files_needed
    if needed > limits.nofile_soft:
        target = min(limits.nofile_hard, max(needed, limits.nofile_soft))
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, limits.nofile_hard))
        except (ValueError, OSError) as error:
            raise ConfigError(
                f"swarm: needs {needed} open files per process but the soft limit is {limits.nofile_soft} "
                f"and raising it failed ({error}); raise it with `ulimit -n {needed}`"
            ) from None
        return PreflightReport(plan, limits, needed, report.memory_needed_bytes, raised_soft_to=target)
    return report


# Any run, swarm or not: a Locust or embedded-backend process opens ~25-35 files of its own (measured:
# interpreter, logs, the event loop, ZMQ) and up to FILES_PER_USER per simulated user it serves or
# drives (its HTTP connection, its real-time one, one being replaced).
RUN_FD_BASE = 64
FILES_PER_USER = 3


def run_files_needed(*, users: int, processes: int, embedded: bool) -> int:
    """Open files the busiest process of a run needs: a generator process holding its share of the
    users or, with embedded targets, a backend serving (at most) all of them."""
    busiest = users if embedded else math.ceil(users / max(processes, 1))
    return RUN_FD_BASE + FILES_PER_USER * busiest


def ensure_open_files(needed: int, limits: HostLimits | None = None) -> int | None:
    """Raise this process's soft open-file limit to ``needed`` where the hard limit allows (its
    children inherit it); returns the new soft limit, ``None`` when it was enough. Too low a hard
    limit is a ``ConfigError`` saying so in the words the kernel would use later, mid-run."""
    limits = limits or read_limits()
    if needed <= limits.nofile_soft:
        return None
    advice = f"raise it with `ulimit -n {needed}` (or more) and run again"
    if needed > limits.nofile_hard:
        raise ConfigError(
            f"too many open files for this run: its processes need ~{needed} each, but the open-file "
            f"limit is {limits.nofile_soft} (hard limit {limits.nofile_hard}); {advice}"
        )
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, limits.nofile_hard))
    except (ValueError, OSError) as error:
        raise ConfigError(
            f"too many open files for this run: its processes need ~{needed} each, the open-file limit "
            f"is {limits.nofile_soft} and raising it failed ({error}); {advice}"
        ) from None
    return needed


def plan_for(
    *,
    users: int,
    mix: dict[str, int],
    target_weights: dict[str, int],
    processes: int,
    embedded: tuple[str, ...],
    local_processes: int | None = None,
    sources: tuple[str, ...] = (),
    loopback_targets: bool = True,
    client_kb: float = CLIENT_KB_PER_CONNECTION["asyncio"],
) -> SwarmPlan | None:
    """The swarm part of a run: ``users`` split by the mix's weights (``SwarmUser``'s share) and the
    targets' weights, as Locust's dispatcher will split them. ``None`` when the mix has no swarm."""
    total_weight = sum(weight * t for weight in mix.values() for t in target_weights.values())
    swarm_weight = mix.get("SwarmUser", 0)
    if swarm_weight == 0 or total_weight == 0:
        return None
    per_target = {
        color: math.ceil(users * swarm_weight * weight / total_weight)
        for color, weight in target_weights.items()
        if weight
    }
    return SwarmPlan(
        per_target=per_target,
        processes=max(processes, 1),
        embedded=embedded,
        local_processes=local_processes,
        sources=sources,
        loopback_targets=loopback_targets,
        client_kb=client_kb,
    )
