"""Tools the client runs itself (AG-UI frontend tools): offered to the model in the turn of the
message that brought them, answered by the client.

They are deferred (external) tools, like `remind`: the model's call ends the agent run, and the
workflow publishes `CLIENT_TOOL_REQUESTED` and waits, durably, for the `client_tool_result` update
(an API process posts what the client's next request carries). The turn's time budget does not run
while it waits, as for an approval.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict

from pydantic_ai.messages import ToolCallPart
from pydantic_ai.tools import ToolDefinition
from pydantic_ai.toolsets import AbstractToolset, ExternalToolset, FunctionToolset
from temporalio import workflow

from durable_chat.workflows.check_ins import CHECK_IN_TOOL
from durable_chat.workflows.contract import (
    CLIENT_TOOL_REQUESTED,
    QUERY_CLIENT_TOOL_CALLS,
    UPDATE_CLIENT_TOOL_RESULT,
    ClientTool,
    ClientToolCall,
    ClientToolResult,
    Turn,
    UserMessage,
)
from durable_chat.workflows.reminders import REMIND_TOOL
from durable_chat.workflows.shared import SessionState, TurnDeps, TurnEvent

CLIENT_TOOLS_PATCH = 'client-tools'
"""Marks a history whose messages brought tools of the client's own."""
MAX_CLIENT_TOOLS = 50
RESERVED = frozenset({REMIND_TOOL, CHECK_IN_TOOL})
"""Names the session answers itself: a client tool of that name is not offered."""
TOOL_NAME = re.compile(r'[A-Za-z0-9_-]{1,64}')
"""A name every model provider takes."""
KEEP_ANSWERED = 50
"""Answered or cancelled calls the workflow keeps for the query (a client's retried request)."""
_NO_PARAMETERS: dict[str, object] = {'type': 'object', 'properties': {}}


def _definition(tool: ClientTool) -> ToolDefinition:
    return ToolDefinition(
        name=tool.name,
        description=tool.description,
        parameters_json_schema=tool.parameters or _NO_PARAMETERS,
        kind='external',
    )


def _tool_names(toolset: AbstractToolset[TurnDeps]) -> set[str]:
    """The names of the function tools among a toolset's leaves (an MCP server's are known only
    once listed, in an activity: a client tool named as one of those fails the turn's request)."""
    names: set[str] = set()

    def visit(leaf: AbstractToolset[TurnDeps]) -> None:
        if isinstance(leaf, FunctionToolset):
            names.update(leaf.tools)

    toolset.apply(visit)
    return names


class ClientTools:
    """The session workflow's side of client tools: taking them from a message, offering them to the
    turn's agent runs, waiting for each call's result, and the update and query the API uses."""

    state: SessionState

    async def _publish(self, event: TurnEvent) -> None:
        raise NotImplementedError

    @property
    def _client_calls(self) -> list[ClientToolCall]:
        # Instance state, rebuilt by replay: a call only waits while its turn runs, and a run never
        # continues as new in the middle of a turn.
        calls: list[ClientToolCall] | None = self.__dict__.get('_client_tool_calls')
        if calls is None:
            calls = self.__dict__['_client_tool_calls'] = []
        return calls

    def _take_client_tools(self, turn: Turn, message: UserMessage) -> None:
        if message.tools and workflow.patched(CLIENT_TOOLS_PATCH):
            offered = {
                t.name: t for t in message.tools if t.name not in RESERVED and TOOL_NAME.fullmatch(t.name)
            }
            turn.client_tools = list(offered.values())[:MAX_CLIENT_TOOLS]

    def _with_client_tools(
        self,
        turn: Turn,
        toolsets: Sequence[AbstractToolset[TurnDeps]] | None,
        agent: Sequence[AbstractToolset[TurnDeps]],
    ) -> list[AbstractToolset[TurnDeps]] | None:
        """The turn's run-time toolsets, and the client's tools beside them (non-executing), but for
        those named as one of the agent's own (two tools of a name fail the run)."""
        for done in self.state.turns:
            if done.client_tools and done.status not in ('queued', 'running'):
                done.client_tools = []  # only a turn still to run needs them
        taken = {n for t in agent for n in _tool_names(t)} | {
            d.name for t in toolsets or [] if isinstance(t, ExternalToolset) for d in t.tool_defs
        }
        offered = [_definition(t) for t in turn.client_tools if t.name not in taken]
        if not offered:
            return None if toolsets is None else list(toolsets)
        client = ExternalToolset[TurnDeps](offered, id='client_tools')
        return [*(toolsets or []), client]

    def _is_client_call(self, turn: Turn, call: ToolCallPart) -> bool:
        return any(t.name == call.tool_name for t in turn.client_tools)

    async def _ask_client(self, turn: Turn, calls: list[ToolCallPart]) -> None:
        """Publishes the turn's client calls of one model response at once: the client answers them
        together, in one request."""
        asked = [
            ClientToolCall(id=c.tool_call_id, turn=turn.number, tool_name=c.tool_name, args=c.args_as_dict())
            for c in calls
            if self._is_client_call(turn, c)
        ]
        if not asked:
            return
        self._client_calls.extend(asked)
        finished = [c for c in self._client_calls if c.status != 'pending']
        for old in finished[:-KEEP_ANSWERED]:
            self._client_calls.remove(old)
        batch = [c.id for c in asked]
        for call in asked:
            data: dict[str, object] = {**asdict(call), 'batch': batch}
            await self._publish(TurnEvent(self.state.session_id, turn.number, CLIENT_TOOL_REQUESTED, data))

    async def _client_result(self, call: ToolCallPart) -> str:
        """Waits for the client's result of a call `_ask_client` published."""
        asked = self._client_call(call.tool_call_id)
        assert asked is not None
        try:
            await workflow.wait_condition(lambda: asked.status != 'pending')
        finally:
            if asked.status == 'pending':
                asked.status = 'cancelled'  # the turn was interrupted while it waited
        if asked.error:
            return f'The tool failed on the client: {asked.error}'
        return asked.result

    def _client_call(self, tool_call_id: str) -> ClientToolCall | None:
        return next((c for c in self._client_calls if c.id == tool_call_id), None)

    @workflow.update(name=UPDATE_CLIENT_TOOL_RESULT)
    def client_tool_result(self, result: ClientToolResult) -> ClientToolCall:
        """A second delivery of a result changes nothing and answers the call as it is."""
        call = self._client_call(result.tool_call_id)
        assert call is not None
        if call.status == 'pending':
            call.status = 'answered'
            call.result = result.content
            call.error = result.error
        return call

    @client_tool_result.validator
    def _validate_client_tool_result(self, result: ClientToolResult) -> None:
        if self._client_call(result.tool_call_id) is None:
            raise ValueError(f'no call {result.tool_call_id} waits for a client result')

    @workflow.query(name=QUERY_CLIENT_TOOL_CALLS)
    def client_tool_calls(self) -> list[ClientToolCall]:
        return self._client_calls
