"""The run directory's format: its version, its files' names, what a reader accepts of them (the
limits of results/README.md) and the error a directory that breaks them raises."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from loadtests.errors import InvalidRunError
from loadtests.untrusted import (
    GIB,
    KIB,
    MIB,
)

FORMAT_VERSION = 1


RunStatus = Literal["partial", "complete", "invalid"]


MANIFEST = "manifest.json"


RUN_CONFIG = "run-config.json"


SAMPLES = "samples.jsonl"


# An open-model run's response times from each operation's intended start (``Basis`` "response");
# samples.jsonl keeps the service times (from the actual send). Same rows, same schema.
SAMPLES_RESPONSE = "samples-response.jsonl"
Basis = Literal["service", "response"]
SAMPLES_BY_BASIS: dict[str, str] = {"service": SAMPLES, "response": SAMPLES_RESPONSE}


GATE = "gate.json"  # loadbench gate: every look at blue against green, and the decision


ARRIVALS = "arrivals.jsonl"  # an open-model run's schedule: arrivals due, started, missed, lateness


CONNECTIONS = "connections.jsonl"


RESOURCES = "resources.csv"


VERDICT = "verdict.json"


SUMMARY = "summary.md"


JUNIT = "junit.xml"


EVENTS = "events.jsonl"


STORM_EVENT = "reconnect_storm"  # in events.jsonl: one per restart the run planted (``loadtests.swarm.storm``)


FIGURES = "figures.jsonl"


REPORT = "report.html"


PLOTS_DIR = "plots"


LOCUST_DIR = "locust"


LOCUST_HISTORY = "stats_stats_history.csv"  # Locust's --csv history: one row per second


RESOURCE_COLUMNS = ("time", "role", "color", "pids", "rss_mb", "cpu_pct", "connections")


# What a reader accepts (results/README.md, "Limits"). Sized far above any real run: a week-long
# run at one-second intervals writes ~11 GB of samples; a sample line is below 100 KB.
MANIFEST_MAX_BYTES = 8 * MIB


JSON_MAX_BYTES = 64 * MIB  # verdict.json and the other JSON side files


SAMPLES_MAX_BYTES = 32 * GIB


SAMPLES_MAX_LINE = 1 * MIB


SIDE_MAX_BYTES = 1 * GIB  # events.jsonl, figures.jsonl, resources.csv, Locust's history


SIDE_MAX_LINE = 64 * KIB


MAX_COUNT = 2**32  # count, timed, overflow of one row, and one histogram bucket's count


MAX_NBYTES = 2**34  # bytes of one row


MAX_EPOCH_S = 2**33  # the latest time (epoch seconds, year 2242) a run may hold


MAX_INTERVAL_S = 86_400.0  # the longest interval one sample row may cover


class RunFormatError(InvalidRunError):
    """The directory is not a readable run of a format this version knows."""


_SHORT_PATH = 160  # characters of a path quoted in a one-line message


def short_path(path: Path) -> str:
    """A path for a one-line message: an absurdly long one keeps its ends."""
    text = str(path)
    return text if len(text) <= _SHORT_PATH else f"{text[: _SHORT_PATH // 2 - 1]}…{text[-(_SHORT_PATH // 2) :]}"


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
