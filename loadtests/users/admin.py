"""``AdminReader``: the admin and stats pages (SuperAdmin account), plus health."""

from __future__ import annotations

import datetime as dt

from locust import task

from loadtests.users.base import PlatformUser


class AdminReader(PlatformUser):
    abstract = True
    class_label = "AdminReader"

    def on_start(self) -> None:
        self.api.ensure_session()

    @task(3)
    def totals(self) -> None:
        if self.api.ensure_session():
            self.api.admin(self.api.dialect.stats_total())

    @task(3)
    def today(self) -> None:
        if self.api.ensure_session():
            self.api.admin(self.api.dialect.stats_daily())

    @task(2)
    def date_range(self) -> None:
        if self.api.ensure_session():
            end = dt.date.today()
            start = end - dt.timedelta(days=self.profile.admin.stats_days)
            self.api.admin(self.api.dialect.stats_range(start.isoformat(), end.isoformat()))

    @task(2)
    def admins(self) -> None:
        if self.api.ensure_session():
            self.api.admin(self.api.dialect.admin_list())

    @task(1)
    def memory(self) -> None:
        # Where the color has an admin page of every chat's memory (blue).
        if self.api.ensure_session():
            self.api.admin_memory_stats()

    @task(1)
    def health(self) -> None:
        self.api.health()
