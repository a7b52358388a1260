"""How one measured operation ended: the outcome vocabulary of the run directory.

It belongs to the run-directory model (``samples.jsonl``'s ``outcome`` field): the protocol layer
produces outcomes, analysis reads them, and neither needs the other to agree on the words.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Outcome"]


class Outcome(StrEnum):
    """Only ``ok`` samples enter latency percentiles; every other outcome but ``refused`` is a failure."""

    OK = "ok"
    ERROR = "error"
    SOFT_FAILURE = "soft_failure"  # 2xx whose body says it failed
    RATE_LIMITED = "rate_limited"  # 429
    TIMEOUT = "timeout"  # no answer (or no stream end) within the deadline
    REFUSED = "refused"  # an expected refusal (e.g. an upload over the size limit): not an error

    @property
    def is_failure(self) -> bool:
        return self not in (Outcome.OK, Outcome.REFUSED)
