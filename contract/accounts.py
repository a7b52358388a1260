"""Names and ids the load generator and the reference backend must agree on without sharing
anything else: the environment variables that carry secrets to child processes, the seeded
accounts' ids, the built-in agent, the colors' default ports, the metric a reconnect storm reads.

Both sides import this module; it imports neither (CONTRACT.md is the third party).
"""

from __future__ import annotations

import hashlib

# Environment variables that carry secrets into the reference backend and the load generator:
# never a command line, never a file.
ENV_JWT_SECRET = "LOADBENCH_JWT_SECRET"
ENV_USER_PASSWORD = "LOADBENCH_USER_PASSWORD"

DEFAULT_PORTS: dict[str, int] = {"blue": 8000, "green": 5000}
BUILTIN_AGENT_ID = "000000000000000000000001"  # blue's "General Assistant", always there
# The reference backend's Prometheus gauge of open real-time connections (its /metrics): a
# reconnect storm reads it to know when the swarm is whole again.
REALTIME_CONNECTIONS_GAUGE = "reference_backend_realtime_connections"


def user_id_for(username: str) -> str:
    """The 24-hex user id of a seeded user: derived, so that a token minted by the load generator
    and the backend agree on ``sub`` without sharing a database."""
    return hashlib.sha256(username.encode()).hexdigest()[:24]
