"""Edit and regenerate: a message with `replaces: N` redoes the session's last turn N, once it has
finished, as a new turn whose model request leaves out turn N's exchange; turn N stays in the
transcript as it was. Otherwise (N not last, or still running) the message is an ordinary turn."""

from __future__ import annotations

import json

from pydantic_ai.messages import ModelMessagesTypeAdapter, TextPart, UserPromptPart

from durable_chat.payload_store import inline
from durable_chat.testing.scripted import expected_reply
from durable_chat.workflows.contract import SIGNAL_SEND, UserMessage
from durable_chat.workflows.session import INTERRUPTED_MARKER
from tests.workflows.driver import Chat, NewChat

MODEL_REQUEST = 'agent__chat__model_request_stream'


async def send(chat: Chat, message_id: str, text: str, replaces: int = 0) -> None:
    await chat.handle.signal(SIGNAL_SEND, UserMessage(id=message_id, text=text, replaces=replaces))


async def model_inputs(chat: Chat) -> dict[int, list[tuple[str, str]]]:
    """What the model received, per turn: the messages of each turn's (last) model request activity,
    as (who, text), read from the session's history where Temporal recorded the activity's input."""
    history = await chat.handle.fetch_history()
    inputs: dict[int, list[tuple[str, str]]] = {}
    for event in history.events:
        if not event.HasField('activity_task_scheduled_event_attributes'):
            continue
        scheduled = event.activity_task_scheduled_event_attributes
        if scheduled.activity_type.name != MODEL_REQUEST:
            continue
        # The request's parameters, then the agent's deps (this product's TurnDeps).
        # Read through the payload store: the history holds a reference to a large input.
        payloads = await inline(chat.client.data_converter.external_storage, scheduled.input.payloads)
        params, deps = (json.loads(p.data) for p in payloads)
        messages = ModelMessagesTypeAdapter.validate_python(params['messages'])
        inputs[deps['turn']] = [
            ('user', str(p.content)) if isinstance(p, UserPromptPart) else ('model', p.content)
            for m in messages
            for p in m.parts
            if isinstance(p, UserPromptPart | TextPart)
        ]
    return inputs


def exchange(text: str, reply: str | None = None) -> list[tuple[str, str]]:
    return [('user', text), ('model', expected_reply(text) if reply is None else reply)]


async def test_an_edit_is_a_new_turn_and_the_model_no_longer_sees_the_edited_exchange(
    new_chat: NewChat,
) -> None:
    chat = await new_chat()
    await send(chat, 'm-1', 'hello')
    await chat.wait_finished(1)
    await send(chat, 'm-2', 'first try')
    await chat.wait_finished(2)

    await send(chat, 'm-3', 'second try', replaces=2)
    done = await chat.wait_finished(3)
    # Turn 2 stays as it was; turn 3 says which turn it redoes.
    assert [(t.number, t.user_text, t.status, t.reply, t.replaces) for t in done.turns] == [
        (1, 'hello', 'done', expected_reply('hello'), 0),
        (2, 'first try', 'done', expected_reply('first try'), 0),
        (3, 'second try', 'done', expected_reply('second try'), 2),
    ]
    inputs = await model_inputs(chat)
    assert inputs[2] == [*exchange('hello'), ('user', 'first try')]
    assert inputs[3] == [*exchange('hello'), ('user', 'second try')]

    # For good: later turns do not see the edited exchange either.
    await send(chat, 'm-4', 'and then')
    await chat.wait_finished(4)
    assert (await model_inputs(chat))[4] == [
        *exchange('hello'),
        *exchange('second try'),
        ('user', 'and then'),
    ]


async def test_a_regenerate_sends_the_same_message_once(new_chat: NewChat) -> None:
    chat = await new_chat()
    await send(chat, 'm-1', 'hello')
    await chat.wait_finished(1)
    await send(chat, 'm-2', 'hello', replaces=1)
    done = await chat.wait_finished(2)

    assert [(t.number, t.user_text, t.replaces) for t in done.turns] == [(1, 'hello', 0), (2, 'hello', 1)]
    assert (await model_inputs(chat))[2] == [('user', 'hello')]


async def test_an_interrupted_turn_redone_leaves_its_partial_answer_out(new_chat: NewChat) -> None:
    chat = await new_chat()
    await send(chat, 'm-1', 'hello')
    await chat.wait_finished(1)
    await send(chat, 'm-2', 'slow 300')
    await chat.wait_for(lambda s: len(s.turns) == 2 and s.turns[1].status == 'running', 'turn 2 to run')
    await chat.interrupt()
    await chat.wait_finished(2)

    await send(chat, 'm-3', 'slow 2', replaces=2)
    done = await chat.wait_finished(3)
    assert [(t.status, t.replaces) for t in done.turns] == [('done', 0), ('interrupted', 0), ('done', 2)]
    seen = (await model_inputs(chat))[3]
    assert seen == [*exchange('hello'), ('user', 'slow 2')]
    assert not any(INTERRUPTED_MARKER in text for _, text in seen)


async def test_a_redo_of_a_turn_that_is_not_the_last_finished_one_is_an_ordinary_turn(
    new_chat: NewChat,
) -> None:
    chat = await new_chat()
    await send(chat, 'm-1', 'hello')
    await chat.wait_finished(1)
    await send(chat, 'm-2', 'again')
    await chat.wait_finished(2)
    await send(chat, 'm-3', 'edit of one', replaces=1)  # turn 1 is not the last
    await chat.wait_finished(3)

    await send(chat, 'm-4', 'slow 50')
    await chat.wait_for(lambda s: len(s.turns) == 4 and s.turns[3].status == 'running', 'turn 4 to run')
    await send(chat, 'm-5', 'edit of four', replaces=4)  # turn 4 is still running
    done = await chat.wait_finished(4, 5)

    assert [t.replaces for t in done.turns] == [0, 0, 0, 0, 0]
    inputs = await model_inputs(chat)
    assert inputs[3] == [*exchange('hello'), *exchange('again'), ('user', 'edit of one')]
    assert inputs[5][-3:] == [*exchange('slow 50'), ('user', 'edit of four')]
