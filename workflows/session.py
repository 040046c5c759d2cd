"""The ChatSession workflow: one long-lived workflow per chat, holding the conversation.

Messages arrive as signals and queue as turns; the workflow runs one agent turn at a time, in
order. Its state is the truth the page renders (the `snapshot` query); the Redis stream is only the
live tail of the turn in progress.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from pydantic_ai.durable_exec.temporal import PydanticAIWorkflow
    from pydantic_ai.exceptions import AgentRunError

    from workflows.activities import publish_turn_event
    from workflows.agent import agent
    from workflows.events import RUN_ERROR, RUN_FINISHED
    from workflows.shared import (
        QUERY_SNAPSHOT,
        SIGNAL_SEND,
        WORKFLOW_NAME,
        SessionStart,
        SessionState,
        SessionStatus,
        Snapshot,
        Turn,
        TurnDeps,
        TurnEvent,
        UserMessage,
    )

TITLE_CHARS = 60

SA_USER = SearchAttributeKey.for_keyword('ChatUser')
SA_STATUS = SearchAttributeKey.for_keyword('ChatStatus')
SA_TITLE = SearchAttributeKey.for_text('ChatTitle')
SA_LAST_ACTIVITY = SearchAttributeKey.for_datetime('ChatLastActivity')


def search_attributes(user_id: str, status: SessionStatus, title: str = '') -> TypedSearchAttributes:
    """The attributes a session starts with; the workflow keeps them current."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(SA_USER, user_id),
            SearchAttributePair(SA_STATUS, status),
            SearchAttributePair(SA_TITLE, title),
        ]
    )


@workflow.defn(name=WORKFLOW_NAME)
class ChatSession(PydanticAIWorkflow):
    __pydantic_ai_agents__ = [agent]

    @workflow.init
    def __init__(self, start: SessionStart) -> None:
        self.state: SessionState = start.state
        self._seen = set(start.state.seen_message_ids)
        self._status: SessionStatus = 'idle'

    @workflow.run
    async def run(self, start: SessionStart) -> None:
        while True:
            await workflow.wait_condition(lambda: self._next_queued() is not None)
            turn = self._next_queued()
            assert turn is not None
            await self._run_turn(turn)
            if self._next_queued() is None:
                self._set_status('idle')
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(SessionStart(state=self.state))

    @workflow.signal(name=SIGNAL_SEND)
    def send(self, message: UserMessage) -> None:
        if message.id in self._seen:
            return  # a redelivery: the first one is already queued or answered
        self._seen.add(message.id)
        self.state.seen_message_ids.append(message.id)
        number = self.state.turns[-1].number + 1 if self.state.turns else 1
        self.state.turns.append(Turn(number=number, message_id=message.id, user_text=message.text))
        if not self.state.title:
            self.state.title = ' '.join(message.text.split())[:TITLE_CHARS]
            workflow.upsert_search_attributes([SA_TITLE.value_set(self.state.title)])

    @workflow.query(name=QUERY_SNAPSHOT)
    def snapshot(self) -> Snapshot:
        state = self.state
        return Snapshot(
            session_id=state.session_id,
            user_id=state.user_id,
            title=state.title,
            status=self._status,
            turns=state.turns,
        )

    def _next_queued(self) -> Turn | None:
        return next((t for t in self.state.turns if t.status == 'queued'), None)

    def _set_status(self, status: SessionStatus) -> None:
        if status == self._status:
            return
        self._status = status
        workflow.upsert_search_attributes(
            [SA_STATUS.value_set(status), SA_LAST_ACTIVITY.value_set(workflow.now())]
        )

    async def _run_turn(self, turn: Turn) -> None:
        turn.status = 'running'
        self._set_status('thinking')
        deps = TurnDeps(session_id=self.state.session_id, turn=turn.number)
        try:
            result = await agent.run(turn.user_text, message_history=self.state.messages, deps=deps)
        except (ActivityError, AgentRunError) as error:
            # The model failed past its retry policy: the session stays usable, the turn says why.
            turn.status = 'failed'
            turn.reply = f'The model failed to answer: {_reason(error)}'
            event = TurnEvent(deps.session_id, turn.number, RUN_ERROR, {'message': turn.reply})
        else:
            self.state.messages = result.all_messages()
            turn.status = 'done'
            turn.reply = result.output
            event = TurnEvent(deps.session_id, turn.number, RUN_FINISHED, {'result': turn.reply})
        try:
            await workflow.execute_local_activity(
                publish_turn_event, event, schedule_to_close_timeout=timedelta(seconds=30)
            )
        except ActivityError:
            workflow.logger.warning(
                'turn %s end not published; clients catch up from the snapshot', turn.number
            )


def _reason(error: BaseException) -> str:
    while error.__cause__ is not None:
        error = error.__cause__
    return str(error) or type(error).__name__
