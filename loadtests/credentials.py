"""Accounts of the simulated users, and tokens minted for them (``auth.mode: mint``).

Secrets (passwords, the JWT secret) come from environment variables or files named in the profile;
they live in memory only and every value object here keeps them out of its ``repr``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import jwt

from contract.accounts import user_id_for
from loadtests.dialects.base import AuthSession, Credentials, Dialect
from loadtests.errors import ConfigError
from loadtests.profiles import AuthSettings


@dataclass(frozen=True)
class Account:
    username: str
    password: str = field(repr=False, default="")
    user_id: str = ""
    role: str = ""

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.username, self.password)


def _read_secret(env_name: str, file: str | None, environ: Mapping[str, str], what: str) -> str:
    if file:
        try:
            text = Path(file).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(f"cannot read the {what} file {file}: {error.strerror}") from None
        except ValueError:
            raise ConfigError(f"the {what} file {file} is not UTF-8 text") from None
        if not text:
            raise ConfigError(f"the {what} file {file} is empty")
        return text
    value = environ.get(env_name, "")
    if not value:
        raise ConfigError(f"set {env_name} to the {what}")
    return value


def load_accounts(auth: AuthSettings, environ: Mapping[str, str]) -> list[Account]:
    """The pool: ``users_file`` lines ``username[,user_id[,role]]`` or the seeded names. In password
    mode every account shares the password from ``password_env``. A user id not given is derived the
    way the reference backend derives it (``user_id_for``)."""
    password = (
        _read_secret(auth.password_env, None, environ, "seeded users' password") if auth.mode == "password" else ""
    )
    if auth.users_file:
        try:
            lines = Path(auth.users_file).read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise ConfigError(f"cannot read auth.users_file {auth.users_file}: {error.strerror}") from None
        rows = [
            [part.strip() for part in line.split(",")] for line in lines if line.strip() and not line.startswith("#")
        ]
        if not rows:
            raise ConfigError(f"auth.users_file {auth.users_file} lists no users")
    else:
        rows = [[name] for name in auth.usernames()]
    return [
        Account(
            row[0],
            password,
            row[1] if len(row) > 1 and row[1] else user_id_for(row[0]),
            row[2] if len(row) > 2 else auth.role,
        )
        for row in rows
    ]


def admin_account(auth: AuthSettings, environ: Mapping[str, str]) -> Account:
    password = ""
    if auth.mode == "password":
        password = _read_secret(auth.admin_password_env or auth.password_env, None, environ, "admin password")
    return Account(auth.admin_account, password, user_id_for(auth.admin_account), "SuperAdmin")


class CredentialPool:
    """Hands out accounts round robin (several simulated users may share an account when the pool is
    smaller than the load).

    Each Locust worker imports the workload and builds its own pool, so a plain round robin would
    hand account 0 to the first user of every worker. A worker therefore starts its round at its own
    block, ``worker_index * block`` (``block`` is the profile's user count): users on different
    workers get different accounts as long as the pool holds ``workers * users`` of them.
    """

    def __init__(self, accounts: list[Account], *, block: int = 0) -> None:
        if not accounts:
            raise ConfigError("the credential pool is empty")
        self._accounts = list(accounts)
        self._block = max(0, block)
        self._position: int | None = None

    def next(self, worker_index: int = 0) -> Account:
        if self._position is None:
            self._position = max(0, worker_index) * self._block
        account = self._accounts[self._position % len(self._accounts)]
        self._position += 1
        return account


class TokenMinter:
    """Signs HS256 tokens with the claims a color expects, instead of logging in."""

    def __init__(self, secret: str, *, ttl_s: float | None = None, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._ttl_s = ttl_s
        self._clock = clock

    def __repr__(self) -> str:
        return "TokenMinter(secret=<hidden>)"

    def sign(self, claims: dict[str, object]) -> str:
        """Any claims, signed with the secret (the probe's expired and short-lived tokens)."""
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def mint(self, dialect: Dialect, account: Account) -> AuthSession:
        now = self._clock()
        ttl = self._ttl_s or dialect.default_token_ttl_s
        claims = dialect.mint_claims(
            username=account.username, user_id=account.user_id, role=account.role, now=now, ttl_s=ttl
        )
        return AuthSession(jwt.encode(claims, self._secret, algorithm="HS256"), None, now + ttl, account.user_id)


def jwt_secret(auth: AuthSettings, environ: Mapping[str, str]) -> str:
    """The HS256 secret mint mode signs with: the content of ``secret_file`` when the profile names
    one, else the variable ``secret_env``."""
    return _read_secret(auth.secret_env, auth.secret_file, environ, "JWT secret")


def token_minter(auth: AuthSettings, environ: Mapping[str, str]) -> TokenMinter | None:
    if auth.mode != "mint":
        return None
    return TokenMinter(jwt_secret(auth, environ), ttl_s=auth.token_ttl_s)


def check_credentials(auth: AuthSettings, environ: Mapping[str, str], *, admins: bool) -> None:
    """Raise ``ConfigError`` now if a secret the workload needs is missing."""
    load_accounts(auth, environ)
    token_minter(auth, environ)
    if admins:
        admin_account(auth, environ)
