"""Analysis: a run directory in, frames, exact percentiles, SLO verdicts and reports out.

Pure functions over data; only the CLI and the notebook print or write files.
"""
