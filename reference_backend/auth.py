"""Users, passwords and tokens, for both colors.

The user pool is derived from ``UserSeed`` instead of stored: a username is valid when it has the
seed's shape, and its id is ``user_id_for(username)``. A pool of 100,000 users therefore costs no
memory, and the load generator can mint tokens that this backend accepts without sharing a database.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from reference_backend.settings import UserSeed, user_id_for

Role = Literal["Students", "Staffs", "Admin", "SuperAdmin"]
ROLES: tuple[str, ...] = ("Students", "Staffs", "Admin", "SuperAdmin")
ADMIN_ROLES: tuple[str, ...] = ("Admin", "SuperAdmin")


@dataclass(frozen=True, slots=True)
class User:
    id: str
    username: str
    role: str

    @property
    def roles(self) -> list[str]:
        return [self.role]

    @property
    def number(self) -> str:
        return self.username.rsplit("-", 1)[-1]

    def to_blue_json(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "id": self.id,
            "nameID": self.username,
            "username": self.username,
            "email": f"{self.username}@loadbench.invalid",
            "firstName": "Load",
            "lastName": f"Bench {self.number}",
            "department": "loadbench",
            "role": self.role,
            "groups": [],
            "created": None,
            "updated": None,
        }

    def to_green_json(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "id": self.id,
            "username": self.username,
            "roles": self.roles,
            "firstName": "Load",
            "lastName": f"Bench {self.number}",
            "email": f"{self.username}@loadbench.invalid",
            "department": "loadbench",
        }


class UserPool:
    """The seeded users plus the SuperAdmin, all sharing the seed's password.

    Passwords are checked with one salted SHA-256 instead of bcrypt: this is a stand-in under load,
    and bcrypt's deliberate ~100 ms of CPU per login would make the benchmark measure the stand-in's
    hashing rather than the client. The salt and ``hmac.compare_digest`` keep the check honest.
    """

    def __init__(self, seed: UserSeed) -> None:
        self.seed = seed
        self._salt = secrets.token_bytes(16)
        password = seed.password.get_secret_value()
        # An empty pool password disables password login (minted tokens still work).
        self._password_set = bool(password)
        self._hashes: dict[str, bytes] = {}
        self._password = password

    def get(self, username: object) -> User | None:
        if not isinstance(username, str):
            return None
        seed = self.seed
        if username == seed.superadmin:
            return User(id=user_id_for(username), username=username, role="SuperAdmin")
        if not username.startswith(seed.prefix):
            return None
        digits = username[len(seed.prefix) :]
        if not digits.isdigit() or not digits.isascii():
            return None
        number = int(digits)
        if not 1 <= number <= seed.count or f"{number:04d}" != digits:
            return None
        return User(id=user_id_for(username), username=username, role=seed.role)

    def resolve(self, user_id: object, username: object) -> User | None:
        """The user a token names, if it exists and the token's ``sub`` is that user's id."""
        user = self.get(username)
        return user if user is not None and user.id == user_id else None

    def __iter__(self) -> Iterator[User]:
        for username in self.seed.usernames():
            yield User(id=user_id_for(username), username=username, role=self.seed.role)
        yield User(id=user_id_for(self.seed.superadmin), username=self.seed.superadmin, role="SuperAdmin")

    def __len__(self) -> int:
        return self.seed.count + 1

    def _hash(self, username: str, password: str) -> bytes:
        return hashlib.sha256(self._salt + username.encode() + b"\0" + password.encode()).digest()

    def bcrypt_shaped_hash(self, user: User) -> str:
        """What the real blue leaks in its user replies (a bcrypt hash), for the planted defect.
        Shaped like one so a secret scan must recognise it, derived from the salt, never the password."""
        digest = hashlib.sha256(self._salt + b"bcrypt-shaped" + user.username.encode()).digest()
        alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return "$2b$12$" + "".join(alphabet[b % 64] for b in (digest + digest)[:53])

    def has_password(self, user: User) -> bool:
        return self._password_set

    def check_password(self, user: User, password: str) -> bool:
        if not self._password_set:
            return False
        stored = self._hashes.get(user.username)
        if stored is None:
            stored = self._hashes[user.username] = self._hash(user.username, self._password)
        return hmac.compare_digest(stored, self._hash(user.username, password))


class TokenError(Exception):
    """A token that is missing, forged, expired or malformed. The message never contains the token."""


class TokenIssuer:
    """HS256 access tokens in the claim shape of either color."""

    def __init__(self, secret: str, ttl_s: int, *, clock: Callable[[], float] = time.time) -> None:
        if not secret:
            raise ValueError("the JWT secret is empty: fill it with BackendSettings.with_secrets_from(environ)")
        self._secret = secret
        self.ttl_s = ttl_s
        self._clock = clock

    def _sign(self, claims: dict[str, Any]) -> str:
        now = int(self._clock())
        return jwt.encode({**claims, "iat": now, "exp": now + self.ttl_s}, self._secret, algorithm="HS256")

    def mint_blue(self, user: User) -> str:
        return self._sign({"sub": user.id, "username": user.username, "nameID": user.username, "role": user.role})

    def mint_green(self, user: User, *, claims: bool = True) -> str:
        """green's access token; ``claims=False`` is what the real green issues on refresh (only ``sub``)."""
        if not claims:
            return self._sign({"sub": user.id})
        return self._sign({"sub": user.id, "username": user.username, "roles": user.roles})

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims after checking signature, algorithm, expiry and ``sub``."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                options={"require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("Token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenError(type(exc).__name__) from exc
        if not isinstance(claims.get("sub"), str):
            raise TokenError("Token has no subject")
        return claims


def role_allowed(role: object, allowed: tuple[str, ...]) -> bool:
    """blue's rule: SuperAdmin passes every role check."""
    return isinstance(role, str) and (role == "SuperAdmin" or role in allowed)


def roles_allowed(roles: object, allowed: tuple[str, ...]) -> bool:
    """green's rule: ``roles`` must be a list that holds one of the required roles."""
    return isinstance(roles, list) and any(r in allowed for r in roles)


@dataclass(frozen=True, slots=True)
class _RefreshEntry:
    user: User
    expires_at: float


class RefreshTokens:
    """green's opaque refresh tokens: 64 hex characters, single use (rotated), bounded in number.

    The access token issued on refresh keeps ``username`` and ``roles`` unless the real green's
    defect is planted (``Deviations.refresh_without_claims``): a clean run must stay clean.
    """

    def __init__(self, ttl_s: int, max_tokens: int, *, clock: Callable[[], float] = time.time) -> None:
        self.ttl_s = ttl_s
        self._max = max_tokens
        self._clock = clock
        self._tokens: OrderedDict[str, _RefreshEntry] = OrderedDict()

    def issue(self, user: User) -> str:
        token = secrets.token_hex(32)
        self._tokens[token] = _RefreshEntry(user=user, expires_at=self._clock() + self.ttl_s)
        while len(self._tokens) > self._max:
            self._tokens.popitem(last=False)
        return token

    def consume(self, token: object) -> User | None:
        """The token's user if the token is known and unexpired; the token is spent either way."""
        if not isinstance(token, str):
            return None
        entry = self._tokens.pop(token, None)
        if entry is None or entry.expires_at < self._clock():
            return None
        return entry.user

    def __len__(self) -> int:
        return len(self._tokens)
