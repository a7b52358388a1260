"""Blue and green behind one interface: the sans-IO protocol layer. ``dialect_for`` picks one by color.

    base       the ``Dialect`` protocol, and the vocabulary the rest of the suite imports from it
    steps      values and steps (``HttpRequest``, ``Exchange``, ``AuthSession``, ...)
    events     what ``Dialect.decode`` returns (``Chunk``, ``End``, ``Pong``, ...)
    judging    ``Judgement`` and the helpers the dialects judge replies with
    blue       FastAPI with its native WebSocket
    green      NestJS with Socket.IO
    options    ``DialectOptions``: where real deployments disagree (CONTRACT.md's defaults)
    jwt_claims reading a token's claims (expiry, the claims a server will ask for)

This package's surface is the choice of a dialect; the vocabulary is ``loadtests.dialects.base``'s.
"""

from __future__ import annotations

from loadtests.dialects.base import Dialect, Outcome
from loadtests.dialects.blue import BlueDialect
from loadtests.dialects.green import GreenDialect
from loadtests.dialects.options import DialectOptions

DIALECTS: dict[str, type[BlueDialect] | type[GreenDialect]] = {"blue": BlueDialect, "green": GreenDialect}


def dialect_for(color: str, options: DialectOptions | None = None) -> Dialect:
    """The dialect a target of this color speaks."""
    try:
        return DIALECTS[color](options)
    except KeyError:
        raise ValueError(f"unknown dialect {color!r}; expected one of {sorted(DIALECTS)}") from None


__all__ = ["DIALECTS", "BlueDialect", "Dialect", "DialectOptions", "GreenDialect", "Outcome", "dialect_for"]
