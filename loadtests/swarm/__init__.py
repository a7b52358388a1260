"""The connection swarm: thousands of long-lived real-time connections, one per Locust user.

    settings    the profile's ``swarm:`` section
    connection  one connection per color (websocket-client for blue, python-socketio for green)
    session     what one swarm user does: connect, ping, churn, fan-out, drop, bounded reconnect
    tokens      one login per account per process, shared by the process's connections (or minted)
    rooms       fan-out rooms and the delivery book-keeping behind ``swarm.fanout_last``
    gauge       connections open over time → ``connections.jsonl`` (merged across workers)
    preflight   refuse a swarm this machine cannot hold, before anything starts
    storm       reconnect storms: a target restarted (by the orchestrator's ``TargetRestarter``), recovery timed
    summary     a run directory's swarm figures (held, connect success, drops, storms, latencies)

Kept light on import: ``loadtests.profiles`` imports ``settings`` from here.
"""
