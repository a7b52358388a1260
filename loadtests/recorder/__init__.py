"""Exact latency recording (HDR histograms per interval), worker → master merge, run directory."""
