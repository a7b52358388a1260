"""The clean paired run the suite shares: one short real run on both colors (ChatUsers, with the
report), started once per session by the ``clean_paired_run`` fixture (tests/conftest.py) for the
tests that only read its outputs. Its profile is also the fault matrix's (tests/analysis/
test_fault_matrix.py) with no fault planted: the matrix's control run."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

FAULT_PROFILE = """\
version: 1
name: fault-{name}
description: planted fault for the analysis tests
duration_s: 8
users: 4
spawn_rate: 4
mix: {{ChatUser: 1}}
health_probe_s: 0.5
chat: {{think_time_s: [0.1, 0.3]}}
reference_backend:
  llm: {{first_token: 200, token_gap: 5, chunks: 6}}
{faults}
slos:
  override:
    http_p95: {{min_samples: 10}}
    server_memory: {{threshold: 110}}
    server_cpu: {{threshold: 25}}
    error_rate: {{min_samples: 20{error_threshold}}}
    connection_success: {{min_samples: 1}}  # 2 users per color; the auth fault can leave one connected
    chat_complete: {{min_samples: 3}}
    auth_success: {{min_samples: 2}}
    availability: {{min_samples: 5}}
"""
# Short-run thresholds: clean runs measured ~55-65 MB RSS and 1-4 % CPU per server, against the
# migration's 512 MB and 50 %. The memory fault costs CPU too (every leaked page is written): at
# 4 MB a request it reached 17 % CPU, past the CPU threshold of the time (15 %), so it leaks 2 MB a
# request (~185 MB on a quiet machine, less on a slow one, against 110 MB) and the CPU fault burns
# 100 ms a request (50 ms measured 27 %), against 25 %: each fault clear of the other's threshold.


def fault_profile(name: str, faults: str = "", *, relaxed_error_rate: bool = False) -> str:
    return FAULT_PROFILE.format(
        name=name, faults=faults, error_threshold=", threshold: 20" if relaxed_error_rate else ""
    )


@dataclass(frozen=True)
class CleanRun:
    code: int
    printed: str  # what `loadbench run` printed on stdout
    out: Path  # the run directory, RESULTS/paired (RESULTS holds the index)

    @property
    def results(self) -> Path:
        return self.out.parent


def start_clean_paired_run(folder: Path) -> CleanRun:
    from loadtests.cli import main

    profile = folder / "clean.yaml"
    profile.write_text(fault_profile("clean"))
    out = folder / "results" / "paired"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["run", "--profile", str(profile), "--target", "both", "--out", str(out)])
    return CleanRun(code, printed.getvalue(), out)
