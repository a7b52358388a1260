"""The connection swarm: thousands of long-lived real-time connections, one per Locust user.

    settings    the profile's ``swarm:`` section
    context     what the sessions of one swarm class share in one process
    session     what one swarm user does: connect, ping, churn, fan-out, drop, bounded reconnect
    connection  one lean connection per color (websocket-client for blue, python-socketio for
                green), on the real-time plumbing of ``loadtests.transport``
    tokens      one login per account per process, shared by the process's connections (or minted)
    rooms       fan-out rooms and the delivery book-keeping behind ``swarm.fanout_last``
    gauge       connections open over time → ``connections.jsonl`` (merged across workers; read
                it back with ``RunDirectory.read_connections``)
    preflight   refuse a swarm this machine cannot hold, before anything starts
    storm       reconnect storms: a target restarted (by the orchestrator's ``TargetRestarter``), recovery timed
    summary     a run directory's swarm figures (held, connect success, drops, storms, latencies)

Kept light on import: ``loadtests.profiles`` imports ``settings`` from here, so the names below
are imported lazily, from the module that owns each (``preflight``, ``storm`` and ``summary`` are
used as modules).
"""

from __future__ import annotations

from loadtests.lazy import lazy_surface

__all__ = [
    "ConnectionGauge",
    "ConnectionsPlugin",
    "FanoutSettings",
    "MintedTokens",
    "ReconnectSettings",
    "RoomBook",
    "SharedLogin",
    "StormSettings",
    "SwarmConnection",
    "SwarmContext",
    "SwarmSession",
    "SwarmSettings",
    "TokenSource",
    "new_connection",
]

EXPORTS: dict[str, tuple[str, ...]] = {
    "settings": ("FanoutSettings", "ReconnectSettings", "StormSettings", "SwarmSettings"),
    "context": ("SwarmContext",),
    "session": ("SwarmSession",),
    "connection": ("SwarmConnection", "new_connection"),
    "tokens": ("MintedTokens", "SharedLogin", "TokenSource"),
    "rooms": ("RoomBook",),
    "gauge": ("ConnectionGauge", "ConnectionsPlugin"),
}

__getattr__, __dir__ = lazy_surface(__name__, EXPORTS)
