"""Admin and stats pages, health, and (``--burst``) the rate limiter."""

from __future__ import annotations

from loadtests.dialects.base import (
    Outcome,
)
from loadtests.probe.cases.registry import (
    ADMIN,
    ALL,
    case,
    obs,
)
from loadtests.probe.session import ColorProbe, Observation


# -- admin, stats, health ------------------------------------------------------------------------
def _admin_token(p: ColorProbe) -> str:
    if p.admin_session is None:
        p.admin_session = p.login_as(p.accounts.admin)
    return p.need(p.admin_session, "the admin account's session").access_token


@case("admin.list", "admin", "list admins (SuperAdmin)", uses=ADMIN)
def _admins(p: ColorProbe) -> Observation | None:
    return obs(p.http(p.dialect.admin_list(), p.dialect.read_admin, token=_admin_token(p)))


@case("admin.list.forbidden", "admin", "list admins as a user who is not SuperAdmin", expect="refused",
      statuses={"*": (403,)})  # fmt: skip
def _admins_forbidden(p: ColorProbe) -> Observation | None:
    return obs(p.http(p.dialect.admin_list(), p.dialect.read_admin))


@case("admin.memory_stats", "admin", "every chat's memory (admins)", uses=ADMIN)
def _admin_memory(p: ColorProbe) -> Observation | None:
    return obs(p.http(p.dialect.admin_memory_stats(), p.dialect.read_json, token=_admin_token(p)))


@case("stats.total", "admin", "usage totals", uses=ADMIN)
def _stats_total(p: ColorProbe) -> Observation | None:
    return obs(p.http(p.dialect.stats_total(), p.dialect.read_admin, token=_admin_token(p)))


@case("stats.daily", "admin", "today's usage", uses=ADMIN)
def _stats_daily(p: ColorProbe) -> Observation | None:
    return obs(p.http(p.dialect.stats_daily(), p.dialect.read_admin, token=_admin_token(p)))


@case("stats.range", "admin", "usage per day over a range", uses=ADMIN)
def _stats_range(p: ColorProbe) -> Observation | None:
    return obs(p.http(p.dialect.stats_range("2026-01-01", "2026-01-31"), p.dialect.read_admin, token=_admin_token(p)))


@case("health", "health", "the health route (blue: GET /)", uses=ALL)
def _health(p: ColorProbe) -> Observation | None:
    return obs(p.http(p.dialect.health(), p.dialect.read_health, token=None))


@case("health.detailed", "health", "the detailed health route")
def _health_detailed(p: ColorProbe) -> Observation | None:
    return obs(p.http(p.dialect.health_detailed(), p.dialect.read_json, token=None))


# -- limits (--burst) ----------------------------------------------------------------------------
BURST_REQUESTS = 70  # past green's catch-all 60 requests a minute per client IP


@case("limits.burst", "limits", f"{BURST_REQUESTS} quick reads of the chat list: is there a rate limit?",
      burst=True)  # fmt: skip
def _burst(p: ColorProbe) -> Observation | None:
    first: Observation | None = None
    for index in range(BURST_REQUESTS):
        result = p.http(p.dialect.chat_history(), p.dialect.read_chat_history)
        assert result is not None
        observation, judged = result
        first = first or observation
        if judged.outcome is Outcome.RATE_LIMITED:
            observation.event = f"429 after {index} requests"
            return observation
        if not judged.ok:
            return observation
    assert first is not None
    first.event = f"no 429 in {BURST_REQUESTS} requests"
    return first
