"""A swarm run's steady state begins when the swarm is whole, not when Locust finished spawning."""

from __future__ import annotations

import pandas as pd

from analysis.load import FIGURE_COLUMNS, swarm_whole_at


def _figures(rows: list[tuple[float, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(FIGURE_COLUMNS))


def test_the_swarm_is_whole_when_every_target_first_holds_nearly_its_most() -> None:
    figures = _figures([
        (10, "green", "connections_held", 5_000), (20, "green", "connections_held", 9_950),
        (30, "green", "connections_held", 10_000), (40, "green", "connections_held", 0),
        (10, "blue", "connections_held", 2_000), (25, "blue", "connections_held", 5_000),
        (10, "green", "other_gauge", 1),
    ])  # fmt: skip
    assert swarm_whole_at(figures) == 25.0  # green at 20 (9,950 ≥ 99 % of 10,000), blue at 25


def test_a_run_without_a_swarm_has_no_such_moment() -> None:
    assert swarm_whole_at(_figures([])) is None
    assert swarm_whole_at(_figures([(10, "green", "connections_held", 0)])) is None
