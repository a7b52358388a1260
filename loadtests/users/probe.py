"""``HealthProbe``: one per target, a health request every ``health_probe_s`` (availability SLO)."""

from __future__ import annotations

from locust import constant_pacing, task

from loadtests.users.base import PlatformUser


class HealthProbe(PlatformUser):
    abstract = True
    class_label = "HealthProbe"
    wait_time = constant_pacing(1.0)  # replaced by the profile's probe period

    @task
    def probe(self) -> None:
        self.api.health()
