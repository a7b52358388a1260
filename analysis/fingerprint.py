"""What makes two runs' loads the same: a short hash of a profile's load-defining fields.

Its own module because ``loadbench run`` stamps it into ``results/index.csv`` after every run, and
the comparison module it belongs with imports scipy (about a second of start-up per run)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

# Fields that describe the system under test or how it is judged, not the load.
NOT_LOAD = ("name", "description", "slos", "reference_backend", "dialects", "target")


def load_fingerprint(profile: Mapping[str, Any]) -> str:
    """A short hash of the profile's load-defining fields (not its SLOs, backend settings or
    dialects: those describe the system under test or how it is judged, not the load)."""
    load = {key: value for key, value in profile.items() if key not in NOT_LOAD}
    return hashlib.sha256(json.dumps(load, sort_keys=True, default=str).encode()).hexdigest()[:12]
