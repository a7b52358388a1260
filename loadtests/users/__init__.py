"""Locust user classes. Each is abstract and color-blind; ``loadtests.workload`` derives one
concrete class per target (``ChatUser_blue``, ``ChatUser_green``) carrying its dialect and URL."""

from __future__ import annotations

from loadtests.users.admin import AdminReader
from loadtests.users.agents import AgentRunnerUser
from loadtests.users.base import PlatformUser
from loadtests.users.chat import ChatUser
from loadtests.users.probe import HealthProbe
from loadtests.users.uploader import UploaderUser

__all__ = ["AdminReader", "AgentRunnerUser", "ChatUser", "HealthProbe", "PlatformUser", "UploaderUser"]
