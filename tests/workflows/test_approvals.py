"""A tool call that needs approval (`forget`) waits durably for a person's answer: approved, the tool
runs; denied, the model hears why; the update refuses unknown and already answered requests."""

from __future__ import annotations

from dataclasses import asdict

import pytest
from temporalio.client import WorkflowUpdateFailedError

from durable_chat.memory.store import MemoryStore
from durable_chat.workflows.contract import (
    APPROVAL_ANSWERED,
    APPROVAL_REQUESTED,
    RUN_FINISHED,
    TEXT_MESSAGE_CONTENT,
    TURN_INTERRUPTED,
    Approval,
    InterruptResult,
)
from durable_chat.workflows.offline_model import LABEL
from tests.workflows.driver import Chat, NewChat, of_turn, refusal, streamed

FACT = 'my bike is red'
TOOL_CALL_START, TOOL_CALL_RESULT = 'TOOL_CALL_START', 'TOOL_CALL_RESULT'
MILESTONES = {TOOL_CALL_START, TOOL_CALL_RESULT, APPROVAL_REQUESTED, APPROVAL_ANSWERED, RUN_FINISHED}


async def ask_to_forget(chat: Chat, store: MemoryStore) -> Approval:
    """The user has a memory (stored directly); turn 1 recalls it and asks to forget it, then waits."""
    memory = (await store.remember(chat.user_id, FACT)).memory
    await chat.send('m-1', f'forget {FACT}')
    waiting = await chat.wait_for(lambda s: s.status == 'awaiting_approval', 'the approval request')
    assert [t.status for t in waiting.turns] == ['running']
    [approval] = waiting.approvals
    assert approval == Approval(
        id=approval.id, turn=1, tool_name='forget', args={'memory_id': memory.id}, status='pending'
    )
    return approval


async def test_an_approved_call_runs_the_tool_and_records_who_approved(
    new_chat: NewChat, memory_store: MemoryStore
) -> None:
    chat = await new_chat(own_user=True)
    pending = await ask_to_forget(chat, memory_store)

    answered = await chat.answer(pending.id, approve=True, by='olga')
    assert (answered.id, answered.status, answered.answered_by) == (pending.id, 'approved', 'olga')

    done = await chat.wait_finished(1)
    reply = f"{LABEL} Done: I've forgotten it."
    assert (done.turns[0].status, done.turns[0].reply) == ('done', reply)
    assert done.approvals == [answered]
    assert await memory_store.list(chat.user_id) == []

    # The turn's stream: the tool calls by model step, the workflow's own events at step 0; the run
    # resumed after the answer goes on numbering steps where the first stopped.
    frames = of_turn(await chat.read_stream(), 1)
    assert {f['attempt'] for f in frames} == {1}
    assert [(f['type'], f['step'], f.get('toolCallName')) for f in frames if f['type'] in MILESTONES] == [
        (TOOL_CALL_START, 1, 'recall'),
        (TOOL_CALL_RESULT, 1, None),
        (TOOL_CALL_START, 2, 'forget'),
        (APPROVAL_REQUESTED, 0, None),
        (APPROVAL_ANSWERED, 0, None),
        (TOOL_CALL_RESULT, 2, None),
        (RUN_FINISHED, 0, None),
    ]
    requested, answer = [f for f in frames if f['type'] in (APPROVAL_REQUESTED, APPROVAL_ANSWERED)]
    assert {k: requested[k] for k in asdict(pending)} == asdict(pending)
    assert {k: answer[k] for k in asdict(answered)} == asdict(answered)
    assert [f['content'] for f in frames if f['type'] == TOOL_CALL_RESULT][1] == 'Forgotten.'
    text = [f for f in frames if f['type'] == TEXT_MESSAGE_CONTENT]
    assert {f['step'] for f in text} == {3} and streamed(text) == reply == frames[-1]['result']


async def test_a_denied_call_keeps_the_memory_and_tells_the_model_why(
    new_chat: NewChat, memory_store: MemoryStore
) -> None:
    chat = await new_chat(own_user=True)
    pending = await ask_to_forget(chat, memory_store)

    answered = await chat.answer(pending.id, approve=False, reason='I still ride it', by='alice')
    assert (answered.status, answered.reason, answered.answered_by) == ('denied', 'I still ride it', 'alice')

    done = await chat.wait_finished(1)
    denied = 'The user denied this tool call. I still ride it'
    assert done.turns[0].reply == f"{LABEL} All right, I'll keep it. ({denied})"
    assert [m.text for m in await memory_store.list(chat.user_id)] == [FACT]
    frames = of_turn(await chat.read_stream(), 1)
    [answer] = [f for f in frames if f['type'] == APPROVAL_ANSWERED]
    assert (answer['status'], answer['reason']) == ('denied', 'I still ride it')
    assert frames[-1]['type'] == RUN_FINISHED


async def test_answers_to_unknown_or_answered_requests_are_refused(
    new_chat: NewChat, memory_store: MemoryStore
) -> None:
    chat = await new_chat(own_user=True)
    pending = await ask_to_forget(chat, memory_store)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await chat.answer('no-such-call', approve=True)
    assert refusal(refused) == ('ValueError', 'no approval request no-such-call')
    # Refused before it was accepted: the request still waits, unanswered.
    still = await chat.snapshot()
    assert (still.status, still.approvals) == ('awaiting_approval', [pending])

    await chat.answer(pending.id, approve=True, by='olga')
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await chat.answer(pending.id, approve=False, by='mallory')
    assert refusal(refused) == ('ValueError', f'approval {pending.id} was already answered (approved)')
    done = await chat.wait_finished(1)
    assert [(a.status, a.answered_by) for a in done.approvals] == [('approved', 'olga')]


async def test_interrupting_a_turn_that_waits_for_approval_cancels_the_request(
    new_chat: NewChat, memory_store: MemoryStore
) -> None:
    chat = await new_chat(own_user=True)
    pending = await ask_to_forget(chat, memory_store)

    assert await chat.interrupt(by='alice') == InterruptResult(turn=1, dropped=[])

    done = await chat.wait_finished(1)
    assert done.turns[0].status == 'interrupted'
    assert [(a.id, a.status) for a in done.approvals] == [(pending.id, 'cancelled')]
    assert [m.text for m in await memory_store.list(chat.user_id)] == [FACT]
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await chat.answer(pending.id, approve=True)
    assert refusal(refused) == ('ValueError', f'approval {pending.id} was already answered (cancelled)')
    frames = of_turn(await chat.read_stream(), 1)
    assert [f['type'] for f in frames if f['step'] == 0] == [APPROVAL_REQUESTED, TURN_INTERRUPTED]
