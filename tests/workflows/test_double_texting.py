"""Double-texting: a message while a turn runs is queued behind it (`enqueue`, the default), stops it
(`interrupt`: the model then sees the partial answer and the new message), or is kept unanswered
(`reject`; the API refuses it first). The policy can change during the session."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError

from durable_chat.workflows.contract import (
    TEXT_MESSAGE_CONTENT,
    UPDATE_SET_DOUBLE_TEXTING,
    SetDoubleTexting,
)
from durable_chat.workflows.session import BUSY_REPLY, INTERRUPTED_MARKER
from tests.workflows.driver import Chat, NewChat, of_turn
from tests.workflows.test_turn_redo import model_inputs


async def streaming(chat: Chat, turn: int) -> None:
    await chat.wait_for_frames(
        lambda f: any(x['type'] == TEXT_MESSAGE_CONTENT for x in of_turn(f, turn)), f'turn {turn} streaming'
    )


async def set_policy(chat: Chat, policy: str) -> str:
    request = SetDoubleTexting(policy, by='alice')  # pyright: ignore[reportArgumentType]
    return await chat.handle.execute_update(UPDATE_SET_DOUBLE_TEXTING, request, result_type=str)


async def test_interrupt_stops_the_running_turn_and_the_model_sees_both(new_chat: NewChat) -> None:
    chat = await new_chat(double_texting='interrupt')
    await chat.send('m-1', 'slow 300')
    await streaming(chat, 1)
    await chat.send('m-2', 'hello')
    done = await chat.wait_finished(1, 2)
    first, second = done.turns
    assert first.status == 'interrupted' and first.reply.startswith('w1 ')
    assert (second.status, second.user_text) == ('done', 'hello')
    seen = (await model_inputs(chat))[2]
    assert seen[0] == ('user', 'slow 300')
    assert seen[1] == ('model', f'{first.reply}\n\n{INTERRUPTED_MARKER}')
    assert seen[-1] == ('user', 'hello')


async def test_reject_keeps_a_message_sent_while_a_turn_runs_unanswered(new_chat: NewChat) -> None:
    chat = await new_chat(double_texting='reject')
    await chat.send('m-1', 'slow 40')
    await streaming(chat, 1)
    await chat.send('m-2', 'hello')
    done = await chat.wait_finished(1, 2)
    first, second = done.turns
    assert first.status == 'done'  # not disturbed
    assert (second.status, second.reply) == ('dropped', BUSY_REPLY)
    # Idle again: the next message is answered.
    await chat.send('m-3', 'hello again')
    assert (await chat.wait_finished(3)).turns[2].status == 'done'


async def test_the_policy_changes_during_the_session(new_chat: NewChat) -> None:
    chat = await new_chat()
    assert (await chat.snapshot()).double_texting == 'enqueue'
    await chat.send('m-1', 'slow 40')
    await streaming(chat, 1)
    await chat.send('m-2', 'queued behind it')
    queued = await chat.wait_finished(1, 2)
    assert [t.status for t in queued.turns] == ['done', 'done']

    assert await set_policy(chat, 'reject') == 'reject'
    assert (await chat.snapshot()).double_texting == 'reject'
    await chat.send('m-3', 'slow 40')
    await streaming(chat, 3)
    await chat.send('m-4', 'refused')
    assert [t.status for t in (await chat.wait_finished(3, 4)).turns[2:]] == ['done', 'dropped']

    # Not a policy: refused (the API answers 422 before it gets here), the policy stays.
    with pytest.raises(WorkflowUpdateFailedError):
        await set_policy(chat, 'shout')
    assert (await chat.snapshot()).double_texting == 'reject'
