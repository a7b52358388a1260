"""The CI step summary: in GitHub Actions, ``loadbench`` appends its Markdown (a run's or a check's
summary, a comparison, the probe's table) to the job's summary page, ``$GITHUB_STEP_SUMMARY``.

The Markdown is escaped where it was made (``analysis.escape``): nothing from a run can inject
into the page.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

ENV_STEP_SUMMARY = "GITHUB_STEP_SUMMARY"


def publish(markdown: str, *, warn: Callable[[str], None], environ: Mapping[str, str] = os.environ) -> None:
    """Append ``markdown`` to the step summary when there is one. A problem is one line to ``warn``:
    the command's result stands, only its summary is missing."""
    target = environ.get(ENV_STEP_SUMMARY)
    if not target:
        return
    try:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    except OSError as error:
        warn(f"loadbench: cannot append to {ENV_STEP_SUMMARY} ({target}): {error.strerror}")
