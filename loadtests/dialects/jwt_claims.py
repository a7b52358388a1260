"""Read a JWT's claims without verifying them: the client only needs to know when to refresh, and
whether a token a server handed out carries the claims the server itself will ask for."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

_MAX_TOKEN_CHARS = 16_384  # a token longer than this is not decoded (it is untrusted input)


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT as a dict (empty when it is not a readable JWT)."""
    if len(token) > _MAX_TOKEN_CHARS:
        return {}
    try:
        payload = token.split(".")[1]
        padded = payload + "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (IndexError, ValueError, AttributeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def token_expiry(token: str) -> float | None:
    """The ``exp`` claim (seconds since the epoch) or ``None`` when the token has none."""
    exp = unverified_claims(token).get("exp")
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def missing_claims(token: str, names: Iterable[str]) -> list[str]:
    """Which of ``names`` the token's payload lacks (all of them when it is not a readable JWT)."""
    claims = unverified_claims(token)
    return [name for name in names if claims.get(name) in (None, "", [])]
