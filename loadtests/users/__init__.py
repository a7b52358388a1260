"""Locust user classes. Each is abstract and color-blind; ``loadtests.workload`` derives one
concrete class per target (``ChatUser_blue``, ``ChatUser_green``) carrying its dialect and URL."""

from __future__ import annotations

from loadtests.users.base import PlatformUser
from loadtests.users.chat import ChatUser
from loadtests.users.probe import HealthProbe

__all__ = ["ChatUser", "HealthProbe", "PlatformUser"]
