"""What makes two runs' loads the same: a short hash of a profile's load-defining fields.

Its own module because ``loadbench run`` stamps it into ``results/index.csv`` after every run, and
the comparison module it belongs with imports scipy (about a second of start-up per run)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

# Profile fields that do not change the load a run generates: they describe the system under
# test (reference_backend, dialects), judge it (slos), or name it (description, target).
NOT_LOAD = ("name", "description", "slos", "reference_backend", "dialects", "target")


def load_fingerprint(profile: Mapping[str, Any]) -> str:
    """A short hash of the profile's fields but ``NOT_LOAD``: equal for runs of the same load."""
    load = {key: value for key, value in profile.items() if key not in NOT_LOAD}
    return hashlib.sha256(json.dumps(load, sort_keys=True, default=str).encode()).hexdigest()[:12]
