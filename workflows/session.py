"""The ChatSession workflow: one long-lived workflow per chat, holding the conversation.

Messages arrive as signals and queue as turns; the workflow runs one agent turn at a time, in
order. Its state is the truth the page renders (the `snapshot` query); the Redis stream is only the
live tail of the turn in progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, CancelledError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from pydantic_ai import DeferredToolRequests, DeferredToolResults
    from pydantic_ai.durable_exec.temporal import PydanticAIWorkflow
    from pydantic_ai.exceptions import AgentRunError
    from pydantic_ai.messages import (
        ModelMessage,
        ModelRequest,
        ModelResponse,
        TextPart,
        ToolCallPart,
        UserPromptPart,
    )

    # In the sandbox's modules, not only imported by a passed-through one: pydantic resolves the
    # memory results' field types there when an activity's result is decoded.
    import durable_chat.memory.types  # noqa: F401
    from durable_chat.workflows.activities import interrupt_turn_stream, publish_turn_event
    from durable_chat.workflows.agents.registry import installed
    from durable_chat.workflows.approvals import Approvals
    from durable_chat.workflows.check_ins import CHECK_IN_TOOL, CHECK_INS_PATCH, CheckIns
    from durable_chat.workflows.check_ins import listed as listed_check_ins
    from durable_chat.workflows.client_tools import ClientTools
    from durable_chat.workflows.compensation import Compensating
    from durable_chat.workflows.compensation import in_words as undone_in_words
    from durable_chat.workflows.contract import (
        DELETED,
        FINISHED_TURN_STATUSES,
        QUERY_SNAPSHOT,
        RUN_ERROR,
        RUN_FINISHED,
        SA_LAST_ACTIVITY,
        SA_STATUS,
        SA_TITLE,
        SESSION_CLOSED,
        SIGNAL_SEND,
        TURN_INTERRUPTED,
        UPDATE_INTERRUPT,
        WORKFLOW_NAME,
        InterruptRequest,
        InterruptResult,
        SessionStatus,
        Snapshot,
        Turn,
        UserMessage,
    )
    from durable_chat.workflows.history import without_exchange
    from durable_chat.workflows.memory_hints import SKIP_RECALL_PATCH
    from durable_chat.workflows.recall import PREPARED_RECALL_PATCH, Recall
    from durable_chat.workflows.reminders import (
        REMIND_TOOL,
        REMINDERS_PATCH,
        Reminders,
        listed,
        session_actions,
    )
    from durable_chat.workflows.session_updates import SessionUpdates
    from durable_chat.workflows.shared import (
        LOCAL_ACTIVITY_FAILED,
        LOCAL_TOOL_EVENTS_PATCH,
        SessionStart,
        SessionState,
        TurnDeps,
        TurnEvent,
    )
    from durable_chat.workflows.tool_calls import tool_calls
    from durable_chat.workflows.tools import STORE_MARKS_CHANGED_PATCH
    from durable_chat.workflows.turn_words import advice, duration, max_tokens, model_failure, unavailable
    from durable_chat.workflows.upkeep import archive_old_turns, compact_history, should_continue_as_new

TITLE_CHARS = 60
DROPPED_TEXT_CHARS = 200
QUEUE_FULL_REPLY = '(Not answered: too many messages were waiting. Send it again when the queue is shorter.)'
"""Below this cosine similarity a memory is noise for the message (all-MiniLM-L6-v2: unrelated ~0.0-0.2;
the lowest correct match in the labelled recall set scores 0.27)."""
INTERRUPTED_MARKER = '[The user interrupted this answer before it was finished.]'
"""What the model sees after the part of an interrupted answer the user saw."""
STOPPED_MARKER = '[This answer was stopped: it took longer than the time allowed for one reply.]'
KEEP_PARTIAL_PATCH = 'interrupt-keeps-partial-text'
TURN_TIME_BUDGET_PATCH = 'turn-time-budget'
REDO_TURN_PATCH = 'redo-last-turn'
"""A message may redo the last turn (edit, regenerate): a new turn whose model history leaves out
the redone turn's exchange."""
TOUCH_PER_TURN_PATCH = 'last-activity-per-turn'
"""`ChatLastActivity` moves at each turn's start, also when the status stays `thinking`."""
DOUBLE_TEXTING_PATCH = 'double-texting'
"""A message while a turn runs may interrupt it or be refused (the session's policy)."""
BUSY_REPLY = '(Not answered: a reply was still being written. Wait for it, or stop it, then send again.)'
UP_FRONT_PATCH = 'patches-up-front'
"""A run that begins on this code decides its patches at its start. A patch decided right after a local
activity can be replayed in the wrong workflow task: when the activity finishes as its task is being
completed, the code after it runs in the next task, but a replay resumes it in the first, where that
task's patch marker is not yet known (tests/replay/test_unexplained.py). Runs before this decide each
patch where they always did."""
PYDANTIC_AI_RUN_ID_PATCH = 'pydantic_ai:stable_default_run_id'
"""pydantic-ai's own patch, decided at an agent run's start (after the turn's recall): decided up front too."""
TOOL_PATCHES = (STORE_MARKS_CHANGED_PATCH, SKIP_RECALL_PATCH, REMINDERS_PATCH, CHECK_INS_PATCH)
"""Patches the tools decide where they run; a run with `LOCAL_TOOL_EVENTS_PATCH` decides them up front."""
TIME_BUDGET = 'time budget'
"""Who stopped a turn that ran out of time (`TURN_INTERRUPTED`'s `by`)."""
QUIET_CONTINUE_AS_NEW_PATCH = 'continue-as-new-when-quiet'
"""A run continues as new once no message came for `QUIET_SECONDS` after its last turn, not in the
workflow task that finished that turn (`ChatSession._message_came_first`)."""
QUIET_SECONDS = 1.0
MAX_DEFERRED_TURNS = 20
"""Turns a run may answer past its size budget before it continues as new, messages or not."""

_R = TypeVar('_R')


@workflow.defn(name=WORKFLOW_NAME)
class ChatSession(
    PydanticAIWorkflow, SessionUpdates, Approvals, Recall, Reminders, CheckIns, Compensating, ClientTools
):
    # The worker registers the agents of its registry (`workflows.agents`), read at its start.
    __pydantic_ai_agents__ = ()

    @workflow.init
    def __init__(self, start: SessionStart) -> None:
        self.state: SessionState = start.state
        self._seen = set(start.state.seen_message_ids)
        self._status: SessionStatus = 'idle'
        self._turn_task: asyncio.Task[None] | None = None
        self._running: Turn | None = None
        self._interrupt: InterruptRequest | None = None
        self._turn_seconds_used = 0.0
        self._closing = False
        self._up_front = workflow.patched(UP_FRONT_PATCH)
        if self._up_front:
            workflow.patched(PYDANTIC_AI_RUN_ID_PATCH)
        # Only a run that decides it here: an older one delivers tool events as it always did.
        self._local_events = self._up_front and workflow.patched(LOCAL_TOOL_EVENTS_PATCH)
        # Likewise: a turn takes the recall the API prepared for its message.
        self._prepared_recall = self._up_front and workflow.patched(PREPARED_RECALL_PATCH)
        if self._local_events:
            # The tools' own patches could otherwise be asked for first right after a tool's result
            # went out in a local activity: the wrong place for a patch (see UP_FRONT_PATCH).
            for patch_id in TOOL_PATCHES:
                workflow.patched(patch_id)
        self._deferred_turns = 0
        self._start_recording()
        # The start input (the carried-over state) is in the history too; only growth is bounded.
        self._run_start_bytes = workflow.info().get_current_history_size()

    @workflow.run
    async def run(self, start: SessionStart) -> None:
        asyncio.get_running_loop().set_exception_handler(_quiet_abandoned_activities)
        try:
            while True:
                await self._wait_for_work()
                turn = self._next_queued()
                assert turn is not None
                # A task of its own, so an interrupt can cancel the turn and not the session.
                self._turn_task = asyncio.create_task(self._run_turn(turn))
                await self._turn_task
                await archive_old_turns(self.state)
                if (entry := installed().get(self.state.agent)) is not None:
                    model = self.state.model or entry.default_model
                    await compact_history(self.state, entry.durability.context_window, model)
                self._seen = set(self.state.seen_message_ids)
                if self._next_queued() is None:
                    self._set_status('idle')
                if should_continue_as_new(self.state, self._run_start_bytes, self._has):
                    if await self._message_came_first():
                        continue
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    workflow.continue_as_new(SessionStart(state=self.state))
        except asyncio.CancelledError:
            await self._close()
            raise

    async def _message_came_first(self) -> bool:
        """Before continuing as new, waits `QUIET_SECONDS` for the next message, and answers one that
        comes in this run (up to `MAX_DEFERRED_TURNS` of them, and never once Temporal suggests a new run).

        A signal that reaches the server while the workflow task continuing as new runs fails that
        task, which Temporal then gives to any worker: the run is replayed from its first event
        (seconds, for a run of many turns) before the message is answered. Right after `RUN_FINISHED`
        is when a client sends its next message, and that task published it; a task of its own once
        the session is quiet is rarely hit.
        """
        if self._next_queued() is not None or workflow.info().is_continue_as_new_suggested():
            return False
        if self._deferred_turns >= MAX_DEFERRED_TURNS or not self._has(QUIET_CONTINUE_AS_NEW_PATCH):
            return False
        try:
            await workflow.wait_condition(lambda: self._next_queued() is not None, timeout=QUIET_SECONDS)
        except TimeoutError:
            return False
        self._deferred_turns += 1
        return True

    @workflow.signal(name=SIGNAL_SEND)
    def send(self, message: UserMessage) -> None:
        if message.id in self._seen:
            return  # a redelivery: the first one is already queued or answered
        self._seen.add(message.id)
        self.state.seen_message_ids.append(message.id)
        number = self.state.next_turn_number()
        turn = Turn(number=number, message_id=message.id, user_text=message.text)
        self._take_client_tools(turn, message)
        if message.replaces and self._redoable(message.replaces) and workflow.patched(REDO_TURN_PATCH):
            turn.replaces = message.replaces
        if self._queue_is_full(turn):
            # Signals cannot be refused, so the bound is kept here: state must stay far under 2 MB.
            turn.status = 'dropped'
            turn.user_text = message.text[:DROPPED_TEXT_CHARS]
            turn.reply = QUEUE_FULL_REPLY
        elif (
            self._busy() and self.state.double_texting != 'enqueue' and workflow.patched(DOUBLE_TEXTING_PATCH)
        ):
            self._double_text(turn)
        self.state.turns.append(turn)
        if not self.state.title:
            self.state.title = ' '.join(message.text.split())[:TITLE_CHARS]
            workflow.upsert_search_attributes([SA_TITLE.value_set(self.state.title)])

    def _redoable(self, number: int) -> bool:
        """Only the last turn, once finished, may be redone: nothing after it depends on its answer."""
        last = self.state.turns[-1] if self.state.turns else None
        return (
            last is not None
            and last.number == number
            and last.status in FINISHED_TURN_STATUSES
            and last.kind == 'message'
        )

    def _busy(self) -> bool:
        return self._running is not None or self._next_queued() is not None

    def _double_text(self, turn: Turn) -> None:
        """A message while a turn runs, by the session's policy: `reject` keeps it unanswered (the API
        refuses it first; this is for one that raced past), `interrupt` stops the running turn, whose
        partial answer the model then sees before this message."""
        if self.state.double_texting == 'reject':
            turn.status = 'dropped'
            turn.reply = BUSY_REPLY
        elif self._running is not None and self._interrupt is None and self._turn_task is not None:
            self._interrupt = InterruptRequest(by=self.state.user_id)
            self._turn_task.cancel()

    def _queue_is_full(self, turn: Turn) -> bool:
        limits = self.state.limits
        queued = [t for t in self.state.turns if t.status == 'queued']
        return (
            len(queued) >= limits.max_queued
            or sum(t.size for t in queued) + turn.size > limits.max_queued_bytes
        )

    @workflow.update(name=UPDATE_INTERRUPT)
    def interrupt(self, request: InterruptRequest) -> InterruptResult:
        assert self._running is not None and self._turn_task is not None
        self._interrupt = request
        self._turn_task.cancel()
        dropped: list[int] = []
        if request.drop_queued:
            for turn in self.state.turns:
                if turn.status == 'queued':
                    turn.status = 'dropped'
                    dropped.append(turn.number)
        return InterruptResult(turn=self._running.number, dropped=dropped)

    @interrupt.validator
    def _validate_interrupt(self, request: InterruptRequest) -> None:
        if self._running is None or self._interrupt is not None:
            raise ValueError('no turn is running')

    def _has(self, patch_id: str) -> bool:
        """`workflow.patched(patch_id)`, known at the start of a run that began on this code."""
        return self._up_front or workflow.patched(patch_id)

    @workflow.query(name=QUERY_SNAPSHOT)
    def snapshot(self) -> Snapshot:
        state = self.state
        return Snapshot(
            session_id=state.session_id,
            user_id=state.user_id,
            title=state.title,
            status=self._status,
            turns=state.turns,
            approvals=state.approvals,
            archived_turns=state.archived_turns,
            agent=state.agent,
            model=state.model,
            reminders=listed(state.reminders),
            timezone=state.timezone,
            double_texting=state.double_texting,
            check_ins=listed_check_ins(state.check_ins),
        )

    def _prompt(self, turn: Turn) -> str:
        return self._check_in_prompt(turn) if turn.kind == 'check_in' else Reminders._prompt(self, turn)

    def _turn(self, number: int) -> Turn | None:
        return next((t for t in self.state.turns if t.number == number), None)

    def _next_queued(self) -> Turn | None:
        return next((t for t in self.state.turns if t.status == 'queued'), None)

    def _set_status(self, status: SessionStatus, touch: bool = False) -> None:
        """`touch`: move the last activity even when the status stays as it is."""
        if status == self._status and not (touch and self._has(TOUCH_PER_TURN_PATCH)):
            return
        self._status = status
        # A deleted session stays `deleted` in visibility whatever it does while it closes.
        shown = DELETED if self.state.deleted else status
        workflow.upsert_search_attributes(
            [SA_STATUS.value_set(shown), SA_LAST_ACTIVITY.value_set(workflow.now())]
        )

    async def _run_turn(self, turn: Turn) -> None:
        turn.status = 'running'
        self._running = turn
        self._interrupt = None
        self._turn_seconds_used = 0.0
        self._start_recording()
        self._set_status('thinking', touch=True)
        if turn.replaces:
            self.state.messages = without_exchange(self.state.messages, self._turn(turn.replaces))
        deps = TurnDeps(
            session_id=self.state.session_id,
            turn=turn.number,
            user_id=self.state.user_id,
            memory_task_queue=self.state.memory_task_queue,
            local_events=self._local_events,
        )
        entry = installed().get(self.state.agent)
        if entry is None or (self.state.model and self.state.model not in entry.models):
            await self._fail(turn, unavailable(self.state.agent, self.state.model, entry))
            self._running = None
            return
        agent = entry.agent
        turn.model = model = self.state.model or entry.default_model
        new_messages: list[ModelMessage] = []
        # The tools the workflow answers itself ride in the run (non-executing: no activity of their own).
        own = [session_actions] if entry.durability.reminders else None
        actions = self._with_client_tools(turn, own, agent.toolsets)
        prompt = self._prompt(turn)
        try:
            deps.memories = await self._recall(deps, prompt, turn.message_id)
            result = await self._timed(
                agent.run(
                    prompt,
                    message_history=self.state.messages,
                    deps=deps,
                    model=model,
                    output_type=[str, DeferredToolRequests],
                    toolsets=actions,
                )
            )
            while isinstance(result.output, DeferredToolRequests):
                new_messages += result.new_messages()
                deps.step_offset += sum(isinstance(m, ModelResponse) for m in result.new_messages())
                answers = await self._answer_deferred(turn, result.output)
                self._set_status('thinking')
                result = await self._timed(
                    agent.run(
                        message_history=result.all_messages(),
                        deferred_tool_results=answers,
                        deps=deps,
                        model=model,
                        output_type=[str, DeferredToolRequests],
                        toolsets=actions,
                    )
                )
        except asyncio.CancelledError:
            await self._mark_interrupted(turn)
            if self._interrupt is None:
                raise  # the session itself is being cancelled
            return
        except TimeoutError:
            turn.note = f'Stopped: a reply may take at most {duration(self.state.limits.turn_seconds)}.'
            await self._mark_interrupted(turn, by=TIME_BUDGET)
        except (ActivityError, AgentRunError) as error:
            # The model failed past its retry policy (or at once, when retrying cannot help): the
            # session stays usable, the turn says why.
            await self._fail(turn, f'The model could not answer: {model_failure(error)}.{advice(error)}')
        else:
            self.state.messages = result.all_messages()
            self.state.last_input_tokens = result.response.usage.input_tokens
            turn.status = 'done'
            turn.reply = result.output
            turn.tool_calls = tool_calls([*new_messages, *result.new_messages()], entry.server_of)
            finished: dict[str, object] = {'result': turn.reply}
            if result.response.finish_reason == 'length':
                limit = max_tokens(agent)
                turn.note = f'Cut off: a reply may be at most {limit} tokens long.'
                finished['note'] = turn.note
            await self._publish(TurnEvent(deps.session_id, turn.number, RUN_FINISHED, finished))
        finally:
            self._running = None

    async def _fail(self, turn: Turn, reply: str) -> None:
        turn.status = 'failed'
        turn.reply = reply
        await self._publish(TurnEvent(self.state.session_id, turn.number, RUN_ERROR, {'message': reply}))
        await self._undo(turn)

    async def _timed(self, run: Awaitable[_R]) -> _R:
        """Runs one agent run of the turn within what is left of the turn's time budget."""
        if not self._has(TURN_TIME_BUDGET_PATCH):
            return await run
        started = workflow.time()
        left = max(self.state.limits.turn_seconds - self._turn_seconds_used, 0.001)
        try:
            return await asyncio.wait_for(run, timeout=left)
        finally:
            self._turn_seconds_used += workflow.time() - started

    async def _answer_deferred(self, turn: Turn, requests: DeferredToolRequests) -> DeferredToolResults:
        """Approvals from a person; the calls of the tools the session answers itself (`remind`, `check_in`)."""
        # Without approvals there is nothing to wait for (no status change, no search-attribute update).
        answers = await self._await_approvals(turn, requests) if requests.approvals else DeferredToolResults()
        await self._ask_client(turn, requests.calls)
        answers.calls = {call.tool_call_id: await self._call(turn, call) for call in requests.calls}
        return answers

    async def _call(self, turn: Turn, call: ToolCallPart) -> object:
        if call.tool_name == REMIND_TOOL:
            return self._remind(turn, call.args_as_dict())
        if call.tool_name == CHECK_IN_TOOL:
            return await self._check_in(turn, call.args_as_dict())
        if self._is_client_call(turn, call):
            return await self._client_result(call)
        return 'This tool cannot run here.'  # an unexpected external call: an answer, not a hung turn

    async def _mark_interrupted(self, turn: Turn, by: str | None = None) -> None:
        """The turn ends with what it streamed so far: the transcript and the model keep that text."""
        turn.status = 'interrupted'
        for approval in self.state.approvals:
            if approval.turn == turn.number and approval.status == 'pending':
                approval.status = 'cancelled'
        by = by or (self._interrupt.by if self._interrupt else 'session closed')
        data: dict[str, object] = {'by': by, **({'note': turn.note} if turn.note else {})}
        event = TurnEvent(self.state.session_id, turn.number, TURN_INTERRUPTED, data)
        if self._has(KEEP_PARTIAL_PATCH):
            turn.reply = await self._interrupt_stream(event)
        else:
            await self._publish(event)
        marker = STOPPED_MARKER if by == TIME_BUDGET else INTERRUPTED_MARKER
        if undone := await self._undo(turn):
            marker = f'{marker}\n{undone_in_words(undone)}'
        self.state.messages = [
            *self.state.messages,
            ModelRequest(parts=[UserPromptPart(content=self._prompt(turn))]),
            ModelResponse(parts=[TextPart(content=f'{turn.reply}\n\n{marker}' if turn.reply else marker)]),
        ]

    async def _interrupt_stream(self, event: TurnEvent) -> str:
        """Stops the turn's stream and returns what it had streamed ('' when Redis can't say)."""
        try:
            return await workflow.execute_local_activity(
                interrupt_turn_stream, event, schedule_to_close_timeout=timedelta(seconds=30)
            )
        except LOCAL_ACTIVITY_FAILED:
            workflow.logger.warning('turn %s interrupted without its partial text', event.turn)
            return ''

    async def _close(self) -> None:
        self._closing = True
        for turn in self.state.turns:
            if turn.status == 'queued':
                turn.status = 'dropped'
        self._set_status('closed')
        await self._close_check_ins()
        last = self.state.turns[-1].number if self.state.turns else 0
        await self._publish(TurnEvent(self.state.session_id, last, SESSION_CLOSED, {}))

    async def _publish(self, event: TurnEvent) -> None:
        try:
            await workflow.execute_local_activity(
                publish_turn_event, event, schedule_to_close_timeout=timedelta(seconds=30)
            )
        except LOCAL_ACTIVITY_FAILED:
            # The stream is only the live tail: clients catch up from the snapshot.
            workflow.logger.warning('%s for turn %s not published', event.type, event.turn)


def _quiet_abandoned_activities(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Stop abandons the turn's model activity; the activity's later 'cancelled' result is expected, not
    an error to print (with a traceback, per interrupted session) when the worker shuts down."""
    error = context.get('exception')
    if isinstance(error, ActivityError | ChildWorkflowError) and isinstance(error.cause, CancelledError):
        return  # a cancelled delegation's child workflow, likewise
    loop.default_exception_handler(context)
