"""The single Locust entry point (web UI, headless, distributed).

    loadbench run | loadbench ui          (recommended: start targets, record exactly, judge)
    locust -f loadtests/locustfile.py     (plain Locust against `loadbench serve blue|green`)

It only imports the workload; users, dialects and listeners live in their own modules.
"""

from locust import events

from loadtests.workload import define_workload

globals().update(define_workload(events))
