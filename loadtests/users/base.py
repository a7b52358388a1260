"""``PlatformUser``: a Locust user bound to one target through a ``PlatformClient``."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import ClassVar

from locust import User

from loadtests.client import PlatformClient
from loadtests.config import TargetConfig
from loadtests.dialects import dialect_for
from loadtests.dialects.base import Credentials
from loadtests.profiles import Profile
from loadtests.timing import Timer


class CredentialPool:
    """Hands out the seeded users round robin (several simulated users may share an account)."""

    def __init__(self, usernames: list[str], password: str) -> None:
        if not usernames:
            raise ValueError("the credential pool is empty")
        self._cycle: Iterator[str] = itertools.cycle(usernames)
        self._password = password

    def next(self) -> Credentials:
        return Credentials(next(self._cycle), self._password)


class PlatformUser(User):
    abstract = True

    # Set on the concrete per-target subclass by ``loadtests.workload``.
    target: ClassVar[TargetConfig]
    profile: ClassVar[Profile]
    credentials: ClassVar[CredentialPool]
    class_label: ClassVar[str] = ""

    def __init__(self, environment) -> None:  # type: ignore[no-untyped-def]
        super().__init__(environment)
        timer = Timer(environment.events.request, target=self.target.color, user_class=self.class_label)
        self.api = PlatformClient(
            dialect=dialect_for(self.target.color, self.target.dialect),
            base_url=self.target.url,
            timer=timer,
            credentials=self.credentials.next(),
            timeouts=self.profile.timeouts.to_timeouts(),
            token_ttl_s=self.target.dialect.token_ttl_s,
            refresh_margin_s=self.target.dialect.refresh_margin_s,
        )

    def on_stop(self) -> None:
        self.api.close()
