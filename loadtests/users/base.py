"""``PlatformUser``: a Locust user bound to one target through a ``PlatformClient``."""

from __future__ import annotations

from typing import ClassVar

from locust import User

from loadtests.client import PlatformClient
from loadtests.config import TargetConfig
from loadtests.credentials import Account, CredentialPool, TokenMinter
from loadtests.dialects import dialect_for
from loadtests.profiles import Profile
from loadtests.timing import Timer
from loadtests.webui import effective_target


def account_client(
    target: TargetConfig, account: Account, *, timer: Timer, minter: TokenMinter | None, profile: Profile
) -> PlatformClient:
    """A ``PlatformClient`` for one account on one target: its password login, or its minted token."""
    dialect = dialect_for(target.color, target.dialect)
    return PlatformClient(
        dialect=dialect,
        base_url=target.url,
        timer=timer,
        credentials=account.credentials,
        mint=(lambda: minter.mint(dialect, account)) if minter is not None else None,
        timeouts=profile.timeouts,
        token_ttl_s=target.dialect.token_ttl_s,
        refresh_margin_s=target.dialect.refresh_margin_s,
        role=account.role or "Admin",
    )


class PlatformUser(User):
    abstract = True

    # Set on the concrete per-target subclass by ``loadtests.workload``.
    target: ClassVar[TargetConfig]
    allow_remote: ClassVar[tuple[str, ...]] = ()
    profile: ClassVar[Profile]
    credentials: ClassVar[CredentialPool]
    minter: ClassVar[TokenMinter | None] = None
    class_label: ClassVar[str] = ""

    def __init__(self, environment) -> None:  # type: ignore[no-untyped-def]
        super().__init__(environment)
        # The web UI's start form may have changed the URL or dialect options since import.
        target = effective_target(self.target, environment.parsed_options, self.allow_remote)
        timer = Timer(environment.events.request, target=target.color, user_class=self.class_label)
        runner = environment.runner
        account = self.credentials.next(getattr(runner, "worker_index", 0) if runner is not None else 0)
        self.api = account_client(target, account, timer=timer, minter=self.minter, profile=self.profile)

    def on_stop(self) -> None:
        self.api.close()
