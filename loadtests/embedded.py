"""The embedded reference backends: how a run (or a probe) configures, starts, restarts and stops
the default targets on this machine.

The only module of the suite that imports ``reference_backend`` (``loadbench serve`` comes here
too): the workload, the swarm and the protocol layer must work against any deployment. The swarm's
reconnect storms restart a target through ``EmbeddedBackends.restart`` (a
``loadtests.swarm.storm.TargetRestarter``), never by reaching for the backend themselves.

Secrets reach the backends through their environment only (``run_secrets``), never their
command line or their settings file.
"""

from __future__ import annotations

import json
import resource
import secrets
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from contextlib import contextmanager, suppress

from pydantic import ValidationError

from contract.accounts import DEFAULT_PORTS, ENV_JWT_SECRET
from contract.knobs import Distribution
from loadtests.credentials import jwt_secret
from loadtests.errors import ConfigError, InfrastructureError, InvalidRunError
from loadtests.profiles import Profile
from loadtests.swarm.storm import RunningTarget
from reference_backend.process import BackendProcess, BackendStartError, start_backend_process
from reference_backend.settings import BackendSettings, UserSeed

READY_TIMEOUT_S = 30  # a backend that does not answer by then never became ready


def backend_settings(profile: Profile, color: str) -> BackendSettings:
    """How the embedded backend of ``color`` is configured for ``profile`` (secrets come from the environment)."""
    llm, faults = profile.reference_backend.for_color(color)
    dialect = profile.dialect(color)
    return BackendSettings(
        color=color,  # type: ignore[arg-type]
        host="127.0.0.1",
        port=0,
        rest_base=dialect.rest_base,
        event_style=dialect.event_style,
        users=UserSeed(count=profile.auth.pool_size, prefix=profile.auth.pool_prefix),
        access_token_ttl_s=profile.reference_backend.access_token_ttl_s,
        llm=llm,
        faults=faults,
    )


def run_secrets(profile: Profile, environ: Mapping[str, str]) -> dict[str, str]:
    """The secrets a run's children get through their environment (never a file, never argv).

    The embedded backends verify tokens with the JWT secret the profile names when it mints them
    (its ``secret_file`` or ``secret_env``), so a profile written for the real deployment runs
    unchanged against the embedded stand-in (CI's dry run of the gate) instead of failing every
    request with 401; an unreadable secret file is a ``ConfigError`` before anything starts.
    Otherwise the secrets are ``$LOADBENCH_JWT_SECRET`` and the pool password's variable, or fresh
    random ones per run. External targets bring their own (``check_credentials``)."""
    auth = profile.auth
    minting = auth.mode == "mint"
    if minting and (auth.secret_file or environ.get(auth.secret_env)):
        secret = jwt_secret(auth, environ)
    else:
        secret = environ.get(ENV_JWT_SECRET) or secrets.token_hex(32)
    env = {ENV_JWT_SECRET: secret}
    if minting and not auth.secret_file:
        env[auth.secret_env] = secret  # Locust's minter reads the same secret as the backends
    env[auth.password_env] = environ.get(auth.password_env) or secrets.token_urlsafe(18)
    return env


def backend_failure_reason(color: str, error: BaseException) -> str:
    """One line for a backend that never became ready: what happened, and the last line of its
    stderr (its traceback stays out of the user's terminal), in plain words when it ran out of files."""
    what = str(error).splitlines()[0] if str(error) else type(error).__name__
    tail = getattr(error, "stderr_tail", "") or ""
    last = next((line.strip() for line in reversed(tail.splitlines()) if line.strip()), "")
    reason = f"the embedded {color} backend never became ready: {what}"
    if "too many open files" in tail.lower() or "errno 24" in tail.lower():
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        return f"{reason}: too many open files (the open-file limit is {soft}; raise it with `ulimit -n`)"
    return f"{reason} ({last[:200]})" if last else reason


def restart_backend(
    backend: BackendProcess,
    *,
    env: Mapping[str, str],
    ready_timeout_s: float = READY_TIMEOUT_S,
    down_s: float = 0.0,
    stop: threading.Event | None = None,
) -> BackendProcess:
    """Kill ``backend``, leave it down ``down_s`` (a planted outage), and start it again on the same
    port with the same settings."""
    settings = BackendSettings.model_validate(json.loads(backend.config_path.read_text()))
    settings = settings.model_copy(update={"port": backend.port})
    backend.process.kill()
    backend.process.wait()
    backend.stop()  # reaps nothing more; removes its working directory
    if down_s > 0:
        (stop or threading.Event()).wait(down_s)
    return start_backend_process(settings, env=env, ready_timeout_s=ready_timeout_s)


def _running(backend: BackendProcess) -> RunningTarget:
    return RunningTarget(color=backend.color, url=backend.url, pid=backend.pid)


class EmbeddedBackends:
    """The embedded backends of one run, by color: started side by side, restarted in place for a
    reconnect storm (a ``TargetRestarter``: the new process replaces the old one here, so it is the
    one stopped at the end), and stopped with the run.

    ``env`` is the backends' whole environment (the run's secrets included)."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        started: Iterable[BackendProcess] = (),
        ready_timeout_s: float = READY_TIMEOUT_S,
    ) -> None:
        self.env = dict(env)
        self.ready_timeout_s = ready_timeout_s
        self._backends: dict[str, BackendProcess] = {backend.color: backend for backend in started}

    def __contains__(self, color: object) -> bool:
        return color in self._backends

    def __bool__(self) -> bool:
        return bool(self._backends)

    def target(self, color: str) -> RunningTarget:
        return _running(self._backends[color])

    def targets(self) -> list[RunningTarget]:
        return [_running(backend) for backend in self._backends.values()]

    def start(self, profile: Profile, colors: Sequence[str], *, on_status: Callable[[str], None]) -> None:
        """Start the backends of ``colors`` side by side (each takes about a second). One that never
        becomes ready is an ``InvalidRunError``; interrupted or not, every one that did start is
        kept here (those still starting are waited for: at most their ready timeout), to be stopped
        with the others."""
        started: dict[str, BackendProcess] = {}
        with ThreadPoolExecutor(max_workers=max(len(colors), 1)) as pool:
            futures = self._submit(pool, profile, colors, on_status)
            problem = None
            try:
                for color, future in futures.items():
                    error = future.exception()  # a signal's exception (the run interrupted) passes
                    if error is None:
                        started[color] = future.result()
                    else:
                        problem = problem or InvalidRunError(backend_failure_reason(color, error))
            finally:
                wait_futures(futures.values())
                for color, future in futures.items():
                    if color not in started and future.done() and future.exception() is None:
                        started[color] = future.result()
                self._backends.update((color, started[color]) for color in colors if color in started)
            if problem is not None:
                raise problem

    def _submit(
        self, pool: ThreadPoolExecutor, profile: Profile, colors: Sequence[str], on_status: Callable[[str], None]
    ) -> dict[str, Future[BackendProcess]]:
        # A signal handler that raises inside Thread.start() leaves the new thread half-registered
        # (CPython prints "KeyError ... del _limbo[self]"): signals wait while threads start. Each
        # thread unblocks them first thing, or the backend it spawns would inherit the mask and
        # ignore the SIGTERM that stops it.
        def start(settings: BackendSettings) -> BackendProcess:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
            return start_backend_process(settings, env=self.env, ready_timeout_s=self.ready_timeout_s)

        futures: dict[str, Future[BackendProcess]] = {}
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            for color in colors:
                on_status(f"starting the embedded {color} reference backend")
                futures[color] = pool.submit(start, backend_settings(profile, color))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return futures

    def restart(self, color: str, *, down_s: float = 0.0, stop: threading.Event | None = None) -> RunningTarget:
        """``TargetRestarter``: kill ``color``'s backend (SIGKILL), leave it down ``down_s``, and
        start it again on the same port with the same settings and secrets (tokens stay valid)."""
        new = restart_backend(
            self._backends[color], env=self.env, ready_timeout_s=self.ready_timeout_s, down_s=down_s, stop=stop
        )
        self._backends[color] = new
        return _running(new)

    def stop(self) -> None:
        for backend in list(self._backends.values()):
            with suppress(Exception):
                backend.stop()


@contextmanager
def embedded_backend(profile: Profile, color: str, env: Mapping[str, str]) -> Iterator[RunningTarget]:
    """One embedded backend configured exactly as a run configures it (``loadbench probe`` meets
    the same backends), stopped on exit."""
    try:
        backend = start_backend_process(backend_settings(profile, color), env=env, ready_timeout_s=READY_TIMEOUT_S)
    except BackendStartError as error:
        raise InfrastructureError(f"the embedded {color} backend never became ready: {error}") from None
    except ValueError as error:  # a deviation that names nothing (a typo in the profile)
        raise ConfigError(f"reference_backend.{color}: {error}") from None
    with backend:
        yield _running(backend)


# -- loadbench serve ------------------------------------------------------------------------------
_FAULT_FLAGS = (
    ("fault_error_rate", "error_rate"),
    ("fault_soft_failure_rate", "soft_failure_rate"),
    ("fault_memory_kb", "memory_growth_kb_per_request"),
    ("fault_drop_end_rate", "drop_end_rate"),
    ("fault_cpu_burn_ms", "cpu_burn_ms_per_request"),
    ("fault_connect_failure_rate", "connect_failure_rate"),
)


def serve_settings(
    color: str,
    *,
    host: str,
    port: int | None,
    rest_base: str,
    event_style: str,
    tuning: Mapping[str, float | None],
    environ: Mapping[str, str],
) -> BackendSettings:
    """The settings of ``loadbench serve``'s flags (``tuning``: the simulated LLM's and the faults'),
    secrets from ``environ``; a ``ConfigError`` naming the setting when one is impossible."""
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
    for flag, field in _FAULT_FLAGS:
        if tuning[flag] is not None:
            faults[field] = tuning[flag]
    if tuning["fault_rate_limit"]:
        faults["rate_limit"] = True
    try:
        return BackendSettings.model_validate(
            {
                "color": color,
                "host": host,
                "port": DEFAULT_PORTS[color] if port is None else port,
                "rest_base": rest_base,
                "event_style": event_style,
                "llm": llm,
                "faults": faults,
            }
        ).with_secrets_from(environ)
    except ValidationError as error:
        first = error.errors()[0]
        raise ConfigError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def serve(settings: BackendSettings) -> None:
    """Serve one reference backend in this process until Ctrl-C."""
    from reference_backend.server import serve as serve_backend

    try:
        serve_backend(settings)
    except OSError as error:
        raise ConfigError(f"cannot listen on {settings.host}:{settings.port}: {error.strerror}") from None
