from __future__ import annotations


class TransportError(Exception):
    """The peer could not be reached or answered nothing usable. ``timed_out`` tells a deadline that
    passed from any other failure; ``refused`` that the server answered a handshake with a refusal
    (blue: an HTTP status instead of the upgrade; green: ``connect_error``), so the reason is the
    server's. Messages never carry tokens or URLs with query strings."""

    def __init__(self, reason: str, *, timed_out: bool = False, refused: bool = False) -> None:
        super().__init__(reason)
        self.timed_out = timed_out
        self.refused = refused
