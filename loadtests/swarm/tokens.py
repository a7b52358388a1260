"""Tokens for the swarm's handshakes, without logging in once per connection.

Ten thousand logins would measure the login route, not the connections, and green allows five
logins per 15 minutes per client IP. The profile's ``auth.mode`` decides how, as for every user:

- ``password`` → ``SharedLogin``: the swarm uses the first ``swarm.accounts`` accounts of the pool;
  each Locust process logs each of them in once, on first need, and every connection of that
  process presents the account's token at its handshake. It refreshes before expiry (green's
  tokens live 15 minutes: a held connection is not checked again, a reconnect is) and logs in
  again only when a refresh fails, no more often than ``LOGIN_RETRY_S``. It works against any
  deployment whose pool password the suite knows, and the few ``auth.login`` samples show it.
- ``mint`` → ``MintedTokens``: a token signed with the deployment's JWT secret for every connect,
  one account per connection (round robin over the pool): no login at all and distinct identities,
  for deployments whose secret the suite is given.
"""

from __future__ import annotations

import threading
from typing import Protocol

from loadtests.client import PlatformClient, Timeouts
from loadtests.credentials import Account, TokenMinter
from loadtests.dialects.base import Dialect
from loadtests.timing import Timer


class TokenSource(Protocol):
    def token(self, index: int) -> str | None:
        """The token for the connection numbered ``index``; ``None`` when none can be had now
        (the connect is then recorded as an ``auth`` failure, and retried with the reconnect
        policy)."""
        ...


class _AccountClient(PlatformClient):
    @property
    def access_token(self) -> str | None:
        return self._session.access_token if self._session is not None else None


class SharedLogin:
    def __init__(
        self,
        *,
        dialect: Dialect,
        base_url: str,
        timer: Timer,
        accounts: list[Account],
        timeouts: Timeouts,
        token_ttl_s: float | None,
        refresh_margin_s: float,
    ) -> None:
        if not accounts:
            raise ValueError("SharedLogin needs at least one account")
        self._clients = [
            _AccountClient(
                dialect=dialect,
                base_url=base_url,
                timer=timer,
                credentials=account.credentials,
                timeouts=timeouts,
                token_ttl_s=token_ttl_s,
                refresh_margin_s=refresh_margin_s,
            )
            for account in accounts
        ]
        # One lock per account: the first connection logs in, the others of the ramp wait for it.
        self._locks = [threading.Lock() for _ in accounts]

    def token(self, index: int) -> str | None:
        slot = index % len(self._clients)
        with self._locks[slot]:
            client = self._clients[slot]
            return client.access_token if client.ensure_session() else None


class MintedTokens:
    def __init__(self, *, dialect: Dialect, minter: TokenMinter, accounts: list[Account]) -> None:
        if not accounts:
            raise ValueError("MintedTokens needs at least one account")
        self._dialect = dialect
        self._minter = minter
        self._accounts = accounts

    def token(self, index: int) -> str:
        # minted afresh for every connect: a reconnect after green's 15 minutes still gets a valid one
        return self._minter.mint(self._dialect, self._accounts[index % len(self._accounts)]).access_token
