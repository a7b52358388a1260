"""The compatibility probe's cases: every route and socket flow of CONTRACT.md, once per color,
positive and negative, in the order a user meets them (later cases use what earlier ones made).

A case is written once, in the dialects' vocabulary, with what the contract promises per color:
``expect`` (``ok``: the call succeeds; ``refused``: a correct server refuses it), the statuses the
contract names, and the fields it promises. ``uses`` names the user classes whose workload takes
the step: the preflight of ``loadbench run`` runs those positive cases only.

Modules, in walk order: ``auth``, ``chat`` (real time, then REST), ``agents``, ``collections``
(with uploads), ``admin`` (with health and the rate-limit burst), ``cleanup``. ``registry`` holds
the case model, ``flows`` the steps several cases share, ``judging`` the verdict of one answer.
"""

from __future__ import annotations

from loadtests.probe.cases import admin, agents, auth, chat, cleanup, collections
from loadtests.probe.cases.judging import judge
from loadtests.probe.cases.registry import Case, Expect, ordered

# The walk's order: later cases use what earlier ones made, and the chat is deleted last.
CASES: list[Case] = ordered(auth, chat, agents, collections, admin, cleanup)

__all__ = ["CASES", "Case", "Expect", "judge"]
