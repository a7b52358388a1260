"""What the suite (``loadtests``, ``analysis``) and the reference backend agree on, owned by neither:
account names and ids, the environment variables that carry secrets, the reference backend's knobs
a profile sets, and how a child process watches the parent that started it.

The layering it makes possible: the workload and the swarm never import the reference backend
(they must work against any deployment), and the reference backend knows nothing of the suite.
"""
