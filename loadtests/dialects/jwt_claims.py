"""Read a JWT's ``exp`` without verifying it: the client only needs to know when to refresh."""

from __future__ import annotations

import base64
import json


def token_expiry(token: str) -> float | None:
    """The ``exp`` claim (seconds since the epoch) or ``None`` when the token has none."""
    try:
        payload = token.split(".")[1]
        padded = payload + "=" * (-len(payload) % 4)
        exp = json.loads(base64.urlsafe_b64decode(padded)).get("exp")
    except (IndexError, ValueError, AttributeError):
        return None
    return float(exp) if isinstance(exp, int | float) else None
