"""Logging in, the user, refreshing: right and wrong passwords, missing, forged and expired tokens."""

from __future__ import annotations

import secrets

from loadtests.dialects.base import (
    AuthSession,
    Credentials,
    HttpRequest,
)
from loadtests.probe.cases.registry import (
    ALL,
    case,
    obs,
)
from loadtests.probe.session import ColorProbe, Observation, Skip


# -- authentication ----------------------------------------------------------------------------
@case(
    "auth.login", "auth", "log in with the right password",
    statuses={"blue": (200,), "green": (201,)},
    required={"blue": ("token", "user"), "green": ("accessToken", "refreshToken", "user")},
    uses=ALL,
)  # fmt: skip
def _login(p: ColorProbe) -> Observation | None:
    if p.accounts.mint is not None and not p.accounts.user.password:
        p.session = p.accounts.mint(p.accounts.user, p.dialect)
        raise Skip("auth.mode mint: the run logs nobody in, and the probe has no password")
    request = p.dialect.login(p.accounts.user)
    result = p.http(request, p.dialect.read_login, allowed_secrets=frozenset({"token", "accessToken", "refreshToken"}))
    assert result is not None
    observation, judged = result
    p.rate_limits = {k: v for k, v in observation.headers.items() if k.startswith("x-ratelimit")}
    if judged.ok:
        p.session = judged.value
    elif p.accounts.mint is not None:
        p.session = p.accounts.mint(p.accounts.user, p.dialect)  # minted runs do not depend on logins
    return observation


@case(
    "auth.login.wrong_password", "auth", "log in with a wrong password", expect="refused",
    statuses={"blue": (401,), "green": (201,)},
)  # fmt: skip
def _wrong_password(p: ColorProbe) -> Observation | None:
    wrong = Credentials(p.accounts.user.username, "not-" + secrets.token_hex(8))
    return obs(p.http(p.dialect.login(wrong), p.dialect.read_login))


@case(
    "auth.login.invalid_body", "auth", "log in without a password", expect="refused",
    statuses={"blue": (422,), "green": (400,)},
)  # fmt: skip
def _login_invalid(p: ColorProbe) -> Observation | None:
    request = p.dialect.login(Credentials(p.accounts.user.username, ""))
    body = {"username": p.accounts.user.username}
    return obs(p.http(HttpRequest(request.name, request.method, request.path, json=body, authenticated=False),
                       p.dialect.read_login))  # fmt: skip


@case(
    "auth.me", "auth", "read the logged-in user",
    required={"blue": ("_id|id", "username", "role"), "green": ("userId", "username", "roles")}, uses=ALL,
)  # fmt: skip
def _me(p: ColorProbe) -> Observation | None:
    return obs(p.http(p.dialect.me(), p.dialect.read_me))


@case("auth.me.no_token", "auth", "read the user with no token", expect="refused",
      statuses={"blue": (401, 403), "green": (401,)})  # fmt: skip
def _me_no_token(p: ColorProbe) -> Observation | None:
    return obs(p.http(p.dialect.me(), p.dialect.read_me, token=None))


@case("auth.me.forged_token", "auth", "read the user with a forged token", expect="refused", statuses={"*": (401,)})
def _me_forged(p: ColorProbe) -> Observation | None:
    return obs(p.http(p.dialect.me(), p.dialect.read_me, token=p.forged_token()))


@case("auth.me.expired_token", "auth", "read the user with an expired token", expect="refused", statuses={"*": (401,)})
def _me_expired(p: ColorProbe) -> Observation | None:
    return obs(p.http(p.dialect.me(), p.dialect.read_me, token=p.expired_token()))


@case(
    "auth.refresh", "auth", "refresh the token; the new one carries the claims the color needs",
    statuses={"blue": (200,), "green": (201,)},
    required={"blue": ("token",), "green": ("accessToken", "refreshToken")}, uses=ALL,
)  # fmt: skip
def _refresh(p: ColorProbe) -> Observation | None:
    session = p.need(p.session, "a logged-in session")
    if session.refresh_token is None and p.dialect.color == "green":
        raise Skip("needs a refresh token (minted sessions have none)")
    allowed = frozenset({"token", "accessToken", "refreshToken"})
    result = p.http(p.dialect.refresh(session), lambda r: p.dialect.read_refresh(r, session), allowed_secrets=allowed)
    assert result is not None
    observation, judged = result
    if judged.ok and judged.value is not None:
        p.refreshed = judged.value
        problem = p.dialect.token_problem(judged.value)
        if problem is not None:
            observation.problems.append(f"defect: {problem}")
        p.session = judged.value if problem is None else session
    return observation


@case("auth.refresh.invalid", "auth", "refresh with a token the server never issued", expect="refused",
      statuses={"blue": (401,), "green": (201,)})  # fmt: skip
def _refresh_invalid(p: ColorProbe) -> Observation | None:
    bogus = AuthSession(p.forged_token(), secrets.token_hex(32))
    request = p.dialect.refresh(bogus)
    return obs(p.http(request, lambda r: p.dialect.read_refresh(r, bogus), token=bogus.access_token))
