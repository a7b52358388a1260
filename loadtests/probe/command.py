"""``loadbench probe``: the API-compatibility walk as a command, on the embedded backends or on
external URLs (the same target and credential rules as ``loadbench run``).

Writes ``compat.json`` (versioned: results/README.md) and ``compat.md`` into its output folder and
returns the report's exit code: 0 when green passes every case blue passes, 1 when green breaks one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from analysis import compat
from contract.accounts import ENV_JWT_SECRET
from loadtests.credentials import admin_account, load_accounts, token_minter
from loadtests.dialects import dialect_for
from loadtests.dialects.base import AuthSession, Credentials, Dialect
from loadtests.embedded import embedded_backend, run_secrets
from loadtests.errors import ConfigError, InfrastructureError
from loadtests.probe.run import ProbeTarget, compat_document, select, walk
from loadtests.probe.session import Accounts
from loadtests.profiles import Profile
from loadtests.recorder.rundir import RunDirectory
from loadtests.targets import plan_targets


@dataclass(frozen=True)
class ProbeRequest:
    profile: Profile
    target_mode: str = "both"
    urls: Mapping[str, str | None] | None = None
    allow_remote: tuple[str, ...] = ()
    out: Path | None = None
    results_root: Path = Path("results")
    burst: bool = False
    timeout_s: float = 5.0


@dataclass(frozen=True)
class ProbeOutcome:
    out: Path
    document: dict[str, Any]
    exit_code: int


def probe_accounts(profile: Profile, environ: Mapping[str, str], *, secret: str | None) -> Accounts:
    """The probe's three identities from the profile's pool: its first two accounts and the admin.
    In ``auth.mode: mint`` their sessions are minted (per color: ``Accounts.for_color``); a known
    secret (the embedded backends', or the minting one) also lets the probe sign expired and
    short-lived tokens for the cases that need them."""
    pool = load_accounts(profile.auth, environ)
    admin = admin_account(profile.auth, environ)
    minter = token_minter(profile.auth, environ)
    sign = None
    if minter is not None:
        sign = minter.sign
    elif secret:
        sign = partial(_sign, secret)
    accounts = {account.username: account for account in (*pool[:2], admin)}
    mint = None
    if minter is not None:

        def mint(credentials: Credentials, dialect: Dialect) -> AuthSession:
            return minter.mint(dialect, accounts[credentials.username])

    other = pool[1 % len(pool)]
    return Accounts(pool[0].credentials, other.credentials, admin.credentials, mint=mint, sign=sign)


def _sign(secret: str, claims: dict[str, Any]) -> str:
    import jwt

    return jwt.encode(claims, secret, algorithm="HS256")


def run_probe(request: ProbeRequest, *, environ: Mapping[str, str] = os.environ) -> ProbeOutcome:
    profile = request.profile
    plans = plan_targets(request.target_mode, dict(request.urls or {}), allow_remote=request.allow_remote)
    if request.target_mode not in ("blue", "green", "both"):
        raise ConfigError("loadbench probe --target takes blue, green or both")
    embedded = [plan for plan in plans if plan.url is None]
    env = dict(environ)
    secret = None
    if embedded:  # the embedded backends' secrets, exactly as a run makes them
        env.update(run_secrets(profile, environ))
        secret = env[ENV_JWT_SECRET]
    out = RunDirectory.create(
        out=request.out, results_root=request.results_root, profile="probe", target=request.target_mode
    ).path
    accounts = probe_accounts(profile, env, secret=secret if embedded else None)
    with contextlib.ExitStack() as stack:
        urls = {plan.color: plan.url for plan in plans}
        for plan in embedded:
            # configured as a run configures them: the probe meets the same backends
            urls[plan.color] = stack.enter_context(embedded_backend(profile, plan.color, env)).url
        targets = {}
        for plan in plans:
            url = urls[plan.color]
            assert url is not None
            if plan.url is not None:
                _reachable(plan.color, url)
            options = profile.dialect(plan.color)
            dialect = dialect_for(plan.color, options)
            targets[plan.color] = ProbeTarget(dialect, url, accounts, options.model_dump(mode="json"))
        cases = select(burst=request.burst)
        with ThreadPoolExecutor(max_workers=len(targets)) as pool:
            futures = {
                color: pool.submit(walk, target, cases, timeout_s=request.timeout_s)
                for color, target in targets.items()
            }
            walked = {color: future.result() for color, future in futures.items()}
    document = compat.with_summary(compat_document(targets, walked, cases, mode="probe"))
    directory = RunDirectory(out)
    directory.write_json(compat.COMPAT_FILE, document)
    directory.write_text(compat.COMPAT_MD, compat.markdown(document))
    return ProbeOutcome(out, document, int(document["summary"]["exit_code"]))


def _reachable(color: str, url: str) -> None:
    import httpx

    try:
        httpx.get(url + "/", timeout=5.0)
    except httpx.HTTPError as error:
        raise InfrastructureError(f"{color} target {url} is unreachable: {type(error).__name__}") from None
