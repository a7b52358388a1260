"""The preflight of ``loadbench run``: the part of the probe its workload uses, before any load.

It refuses to blame the target for the suite's own configuration. When a step the workload needs
cannot work on a target (a route missing, the first socket frame refused, logins refused or
rate-limited below what the run needs), the run stops with exit 2 (4: the target is unreachable)
and one line saying what to change. A real defect of the target that the run will meet (green's
refreshed token without claims) is no reason to stop: it is named in the verdict's notes and in
``compat.json`` before the load starts, and the run records its failures against the target.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from analysis import compat
from loadtests.dialects import dialect_for
from loadtests.probe.cases import Case
from loadtests.probe.command import probe_accounts
from loadtests.probe.run import ProbeTarget, compat_document, select, walk
from loadtests.profiles import Profile

BUDGET_S = 10.0  # the whole preflight, both colors side by side
STEP_TIMEOUT_S = 5.0
SLOW_LOGIN_MS = 100.0  # a login slower than this on an idle target holds the target (blue: bcrypt)
EXIT_CONFIG, EXIT_INFRA = 2, 4

# What the first step the workload needs per user class is called in the messages.
_FIRST_FRAME_CASES = ("chat.create", "chat.join", "chat.rtt")


@dataclass
class PreflightResult:
    document: dict[str, Any]
    stop: str | None = None  # one line: why the run must not start
    exit_code: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PreflightTarget:
    color: str
    url: str
    options: Any  # DialectOptions


def run_preflight(
    profile: Profile,
    targets: list[PreflightTarget],
    environ: Mapping[str, str],
    *,
    secret: str | None,
    budget_s: float = BUDGET_S,
) -> PreflightResult:
    uses = {name for name, weight in profile.mix.items() if weight > 0}
    cases = [case for case in select(uses=uses, positive_only=True) if _wanted(case, profile)]
    accounts = probe_accounts(profile, environ, secret=secret)
    probe_targets = {
        t.color: ProbeTarget(dialect_for(t.color, t.options), t.url, accounts, t.options.model_dump(mode="json"))
        for t in targets
    }
    with ThreadPoolExecutor(max_workers=max(len(probe_targets), 1)) as pool:
        futures = {
            color: pool.submit(walk, target, cases, timeout_s=STEP_TIMEOUT_S, budget_s=budget_s)
            for color, target in probe_targets.items()
        }
        walked = {color: future.result() for color, future in futures.items()}
    document = compat.with_summary(compat_document(probe_targets, walked, cases, mode="preflight"))
    result = PreflightResult(document)
    for target in targets:
        _judge_color(result, profile, target, walked[target.color])
    return result


def _wanted(case: Case, profile: Profile) -> bool:
    if case.id.startswith("auth.refresh") or case.id == "chat.connect.refreshed_token":
        return profile.auth.mode == "password"  # minted sessions are minted again, never refreshed
    return True


def _users_on(profile: Profile, color: str, colors: int) -> int:
    return max(1, round(profile.users / max(colors, 1)))


def _judge_color(result: PreflightResult, profile: Profile, target: PreflightTarget, results: dict[str, Any]) -> None:
    color = target.color
    for case_id, observed in results.items():
        if case_id.startswith("_") or result.stop is not None:
            continue
        problems = [str(p) for p in observed.get("problems", []) or []]
        defects = [p for p in problems if p.startswith("defect:")]
        for problem in defects:
            note = _defect_note(color, problem, profile)
            if note not in result.notes:
                result.notes.append(note)
        if observed.get("verdict") != "fail" or defects:
            continue  # a defect's own failures are the target's, named above
        stop = _stop_line(color, case_id, observed, target, profile)
        if stop is not None:
            result.stop, result.exit_code = stop
            return
        failures = [p for p in problems if not p.startswith("defect:")]
        if failures:
            result.notes.append(
                f"preflight: {color} {case_id} failed ({'; '.join(failures)[:200]}); the run goes on and records it"
            )
    if result.stop is None:
        limit = _rate_limit_stop(color, results, profile)
        if limit is not None:
            result.stop, result.exit_code = limit, EXIT_CONFIG
            return
        slow = _slow_login_note(color, results, profile)
        if slow is not None:
            result.notes.append(slow)


def _stop_line(
    color: str, case_id: str, observed: dict[str, Any], target: PreflightTarget, profile: Profile
) -> tuple[str, int] | None:
    problems = [str(p) for p in observed.get("problems", []) or []]
    reason = observed.get("reason") or observed.get("event") or "; ".join(problems)
    unanswered = observed.get("status") is None and str(reason).startswith(("ConnectError", "ConnectTimeout"))
    if unanswered and case_id in ("auth.login", "health"):
        return f"preflight: {color} at {target.url} did not answer ({reason})", EXIT_INFRA
    if observed.get("route_missing"):
        request = observed.get("request", "?")
        hint = (
            f"check dialects.green.rest_base (now {target.options.rest_base}; deployments use /api, /api/v1 or /v1)"
            if color == "green"
            else "check that the target is the FastAPI blue CONTRACT.md describes"
        )
        return (
            f"preflight: {color} has no {request} (HTTP {observed.get('status')}), which the workload's {case_id} "
            f"needs: {hint}",
            EXIT_CONFIG,
        )
    if case_id == "auth.login" and profile.auth.mode == "password" and _refused_login(observed):
        if observed.get("outcome") == "rate_limited":
            return (
                f"preflight: {color} rate-limited the first login ({reason}): wait for the window to pass, disable "
                "the rate limiter in the test environment, or use auth: {mode: mint}",
                EXIT_CONFIG,
            )
        return (
            f"preflight: {color} refused the login ({reason}): {_login_hint(color, str(reason), profile)}",
            EXIT_CONFIG,
        )
    if case_id == "auth.me" and profile.auth.mode == "mint" and observed.get("status") == 401:
        return (
            f"preflight: {color} refuses the tokens this run mints (HTTP 401 on auth.me: {reason}): set "
            f"{profile.auth.secret_env} (or auth.secret_file) to {color}'s JWT secret",
            EXIT_CONFIG,
        )
    event = str(observed.get("event") or "")
    if case_id in _FIRST_FRAME_CASES and color == "blue" and "closed by peer" in event:
        return (
            f"preflight: blue closed the socket on its first frame ({observed.get('request')}): {event}; this blue "
            f"does not open chats as CONTRACT.md says: check dialects.blue.ws_path (now {target.options.ws_path}) "
            "and the blue version",
            EXIT_CONFIG,
        )
    if case_id in _FIRST_FRAME_CASES and event.startswith("no ") and observed.get("status") is None:
        hint = (
            f"check dialects.green.event_style (now {target.options.event_style})"
            if color == "green"
            else "blue builds before July 2025 do not answer join_room"
        )
        return (
            f"preflight: {color} never answered {observed.get('request')} ({event}): {hint}",
            EXIT_CONFIG,
        )
    return None  # the target failing a step (a 500, a timeout, a refused socket) is measured, not refused


def _refused_login(observed: dict[str, Any]) -> bool:
    """A login the target refused (wrong account or password, a role it does not let in, its
    rate limiter), as opposed to one that failed (a 500, a timeout): the run measures those."""
    if observed.get("outcome") == "soft_failure":  # green's 201 refusal says so (CONTRACT.md)
        return "Invalid credentials" in str(observed.get("reason", ""))
    return observed.get("outcome") == "rate_limited" or observed.get("status") in (401, 403)


def _login_hint(color: str, reason: str, profile: Profile) -> str:
    mint = "or use auth: {mode: mint}"
    if color == "blue" and "not found or password not set" in reason:
        return f"blue's password login admits only Admin and SuperAdmin accounts: seed admin accounts, {mint}"
    return f"set {profile.auth.password_env} to the password of the {profile.auth.pool_prefix}… accounts, {mint}"


def _rate_limit_stop(color: str, results: dict[str, Any], profile: Profile) -> str | None:
    """green answers every request with its limiter's headers: compare them with what the run
    will send (its logins, and its request rate), before it sends it."""
    colors = 2 if profile.target in (None, "both", "canary") else 1
    users = _users_on(profile, color, colors)
    login = results.get("auth.login") or {}
    headers = login.get("headers") or {}
    if profile.auth.mode == "password" and "x-ratelimit-remaining" in headers:
        remaining, limit = _int(headers.get("x-ratelimit-remaining")), _int(headers.get("x-ratelimit-limit"))
        window = headers.get("x-ratelimit-window", "?")
        if remaining is not None and remaining < users:
            return (
                f"preflight: {color} limits logins to {limit} per {window} s per client IP (X-RateLimit-* on "
                f"auth.login; {remaining} left) and this run logs in about {users} users: disable the rate "
                "limiter in the test environment, or use auth: {mode: mint}"
            )
    tightest: tuple[int, float, str] | None = None
    for case_id, observed in results.items():
        if case_id.startswith(("_", "auth.")) or not isinstance(observed, dict):
            continue
        h = observed.get("headers") or {}
        limit, window = _int(h.get("x-ratelimit-limit")), _float(h.get("x-ratelimit-window"))
        if limit is not None and window and (tightest is None or limit / window < tightest[0] / tightest[1]):
            tightest = (limit, window, case_id)
    if tightest is None:
        return None
    per_minute = _requests_per_minute(profile, users)
    limit, window, case_id = tightest
    if per_minute > limit * 60 / window:
        return (
            f"preflight: {color} limits requests to {limit} per {window:g} s per client IP (X-RateLimit-* on "
            f"{case_id}) and this run sends about {per_minute:.0f} a minute: disable the rate limiter in the test "
            "environment, or spread the load over more source addresses"
        )
    return None


def _requests_per_minute(profile: Profile, users: int) -> float:
    """A rough rate of a closed-model run: each user one request per mean think time."""
    sections = {"ChatUser": profile.chat, "UploaderUser": profile.uploader, "AgentRunnerUser": profile.agents,
                "AdminReader": profile.admin}  # fmt: skip
    weights = {name: weight for name, weight in profile.mix.items() if name in sections and weight > 0}
    if not weights:
        return 0.0
    total = sum(weights.values())
    mean_think = sum(statistics.fmean(sections[name].think_time_s) * w for name, w in weights.items()) / total
    return users * 60 / max(mean_think, 0.1)


def _slow_login_note(color: str, results: dict[str, Any], profile: Profile) -> str | None:
    login = results.get("auth.login") or {}
    latency = login.get("latency_ms")
    if profile.auth.mode != "password" or not isinstance(latency, int | float) or latency < SLOW_LOGIN_MS:
        return None
    colors = 2 if profile.target in (None, "both", "canary") else 1
    rate = profile.spawn_rate / colors
    busy = min(latency / 1000 * rate, 1.0)
    return (
        f"preflight: one {color} login took {latency:.0f} ms on an idle target; this run starts {rate:g} {color} "
        f"users a second, each logging in, so logins alone may hold {color} about {busy:.0%} of the ramp-up "
        "(blue checks bcrypt on its event loop): auth.login and the ramp measure that; auth: {mode: mint} "
        "keeps logins out of the run"
    )


def _defect_note(color: str, problem: str, profile: Profile) -> str:
    detail = problem.removeprefix("defect: ")
    ttl = profile.reference_backend.access_token_ttl_s
    when = f"after the first refresh (tokens live {ttl} s here)" if ttl else "after the first refresh"
    return (
        f"preflight: {color}'s defect, met by this run: {detail}; {when}, sockets opened with a "
        f"refreshed token are refused and role-guarded routes may answer 403; those failures are {color}'s and "
        "are recorded against it"
    )


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _float(value: Any) -> float | None:
    try:
        number = float(str(value))
    except ValueError:
        return None
    return number if number > 0 else None
