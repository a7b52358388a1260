"""Agents: CRUD, templates, ratings and runs streamed to their end."""

from __future__ import annotations

import secrets

from loadtests.dialects.base import (
    AgentRef,
    Exchange,
    HttpRequest,
)
from loadtests.probe.cases.flows import stream
from loadtests.probe.cases.registry import (
    AGENTS,
    case,
    obs,
)
from loadtests.probe.session import ColorProbe, Observation


# -- agents ------------------------------------------------------------------------------------
@case("agent.list", "agents", "list agents", uses=AGENTS)
def _agents(p: ColorProbe) -> Observation | None:
    return obs(p.http(p.dialect.list_agents(), p.dialect.read_agents))


@case("agent.templates", "agents", "list agent templates", uses=AGENTS)
def _templates(p: ColorProbe) -> Observation | None:
    result = p.http(p.dialect.agent_templates(), p.dialect.read_templates)
    if result is not None and result[1].ok:
        p.template_ids = list(result[1].value or [])
    return obs(result)


@case("agent.create", "agents", "create an agent", statuses={"green": (201,)}, required={"*": ("_id|id", "name")},
      uses=AGENTS)  # fmt: skip
def _create_agent(p: ColorProbe) -> Observation | None:
    result = p.http(p.dialect.create_agent(f"probe agent {secrets.token_hex(3)}"), p.dialect.read_agent)
    assert result is not None
    if result[1].ok and isinstance(result[1].value, AgentRef):
        p.agent_id = result[1].value.agent_id
    return result[0]


@case("agent.create.invalid", "agents", "create an agent without a name", expect="refused",
      statuses={"blue": (422,), "green": (400,)})  # fmt: skip
def _create_agent_invalid(p: ColorProbe) -> Observation | None:
    request = p.dialect.create_agent("x")
    return obs(p.http(HttpRequest(request.name, request.method, request.path, json={"description": "no name"}),
                       p.dialect.read_agent))  # fmt: skip


@case("agent.get", "agents", "read one agent", uses=AGENTS)
def _get_agent(p: ColorProbe) -> Observation | None:
    return obs(p.http(p.dialect.get_agent(p.need(p.agent_id, "an agent (agent.create)")), p.dialect.read_agent))


@case("agent.get.unknown", "agents", "read an agent that does not exist", expect="refused", statuses={"*": (404,)})
def _get_agent_unknown(p: ColorProbe) -> Observation | None:
    return obs(p.http(p.dialect.get_agent(secrets.token_hex(12)), p.dialect.read_agent))


@case("agent.update", "agents", "update an agent", uses=AGENTS)
def _update_agent(p: ColorProbe) -> Observation | None:
    agent_id = p.need(p.agent_id, "an agent (agent.create)")
    return obs(p.http(p.dialect.update_agent(agent_id, "updated by the probe"), p.dialect.read_agent))


@case("agent.from_template", "agents", "create an agent from a template", uses=AGENTS)
def _from_template(p: ColorProbe) -> Observation | None:
    template = p.template_ids[0] if p.template_ids else "programming-tutor"
    return obs(p.http(p.dialect.agent_from_template(template, "probe template agent"), p.dialect.read_agent))


@case("agent.rate", "agents", "rate an agent", uses=AGENTS)
def _rate(p: ColorProbe) -> Observation | None:
    return obs(p.http(p.dialect.rate_agent(p.need(p.agent_id, "an agent"), 4), p.dialect.read_json))


@case("agent.use", "agents", "count a use of an agent")
def _use(p: ColorProbe) -> Observation | None:
    return obs(p.http(p.dialect.use_agent(p.need(p.agent_id, "an agent")), p.dialect.read_json))


@case("agent.run", "agents", "run an agent and stream its answer to the end", uses=AGENTS)
def _run_agent(p: ColorProbe) -> Observation | None:
    agent_id = p.need(p.agent_id, "an agent (agent.create)")
    chat = p.need(p.chat, "a chat (chat.create)")
    session = p.need(p.session, "a session")
    run_session = secrets.token_hex(12)
    subscribe = p.dialect.subscribe_agent_run(run_session)

    def step() -> Exchange | HttpRequest:
        return p.dialect.run_agent(agent_id=agent_id, chat_id=chat.chat_id, session_id=run_session,
                                   user_id=session.user_id, text="Summarise the lecture.")  # fmt: skip

    return stream(p, chat.chat_id, step, subscribe=subscribe, read=p.dialect.read_agent_started)


@case("agent.status", "agents", "read an agent run's streaming status", uses=AGENTS)
def _agent_status(p: ColorProbe) -> Observation | None:
    return obs(p.http(p.dialect.agent_status(secrets.token_hex(12)), p.dialect.read_agent_status))


@case("agent.cancel", "agents", "cancel an agent run", statuses={"green": (201,)})
def _agent_cancel(p: ColorProbe) -> Observation | None:
    return obs(p.http(p.dialect.cancel_agent_run(secrets.token_hex(12)), p.dialect.read_json))


@case("agent.delete", "agents", "delete an agent", uses=AGENTS)
def _delete_agent(p: ColorProbe) -> Observation | None:
    agent_id = p.need(p.agent_id, "an agent (agent.create)")
    return obs(p.http(p.dialect.delete_agent(agent_id), p.dialect.read_agent_deleted))
