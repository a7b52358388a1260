"""What the report's plots cost with fixed margins (``analysis.plots._figure``) against matplotlib's
constrained layout (what they used before), measured side by side in one process.

Synthesizes a run the way ``analysis_speed.py`` does (2 targets x 9 metrics, so the two grid
figures have their full nine panels), warms matplotlib up once, then renders all plots in
alternating rounds, each way, and prints the medians and their ratio.

    .venv/bin/python benchmarks/plot_layout.py             # 5 rounds each way
    .venv/bin/python benchmarks/plot_layout.py --rounds 9

Prints figures; asserts nothing (a benchmark, not a test).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from analysis_speed import synthesize  # noqa: E402

from analysis import plots  # noqa: E402
from analysis.load import load_run  # noqa: E402


def render(run, *, constrained: bool) -> float:  # type: ignore[no-untyped-def]
    from matplotlib.figure import Figure

    original = Figure.__init__

    def with_layout(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        original(self, *args, **{**kwargs, "layout": "constrained"})

    if constrained:
        Figure.__init__ = with_layout  # type: ignore[method-assign]
    try:
        with warnings.catch_warnings():  # the fixed margins, refused under a layout engine: as intended
            warnings.simplefilter("ignore", UserWarning)
            start = time.perf_counter()
            plots.render_plots(run)
            return time.perf_counter() - start
    finally:
        Figure.__init__ = original  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run"
        synthesize(path, samples=200_000, duration_s=300, metrics=9)
        run = load_run(path)
        render(run, constrained=False)  # imports, font cache
        fixed, constrained = [], []
        for _ in range(args.rounds):
            fixed.append(render(run, constrained=False))
            constrained.append(render(run, constrained=True))
    a, b = statistics.median(fixed), statistics.median(constrained)
    print(f"plots of one run, median of {args.rounds} rounds each, alternating:")
    print(f"  fixed margins       {a:.2f} s")
    print(f"  constrained layout  {b:.2f} s")
    print(f"  ratio fixed / constrained: {a / b:.2f}")


if __name__ == "__main__":
    main()
