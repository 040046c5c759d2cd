"""Messages queue as turns and are answered one at a time, in order; a message id counts once; a
full queue keeps the extra messages as dropped; the snapshot and search attributes follow along."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

from durable_chat.testing.scripted import expected_reply, scripted_reply
from durable_chat.workflows.contract import (
    RUN_FINISHED,
    SA_STATUS,
    SA_TITLE,
    TEXT_MESSAGE_CONTENT,
    SessionLimits,
)
from durable_chat.workflows.session import DROPPED_TEXT_CHARS, QUEUE_FULL_REPLY, TITLE_CHARS
from tests.workflows.driver import Chat, NewChat, eventually, of_turn, streamed

# A first turn long enough (1 s) for the next messages to arrive while it runs.
LONG_TURN = 'slow 25 first'


async def start_long_turn(chat: Chat) -> None:
    await chat.send('m-1', LONG_TURN)
    await chat.wait_for(lambda s: bool(s.turns) and s.turns[0].status == 'running', 'turn 1 to run')


async def wait_for_attribute(chat: Chat, key: SearchAttributeKey[str], value: str) -> None:
    """Search attributes are what session lists filter on (`ChatStatus`, `ChatTitle`)."""

    async def probe() -> bool | None:
        attributes = (await chat.handle.describe()).typed_search_attributes
        return attributes.get(key) == value or None

    await eventually(probe, f'{key.name} to be {value!r}')


async def test_messages_queue_as_turns_and_are_answered_one_at_a_time_in_order(new_chat: NewChat) -> None:
    chat = await new_chat()
    texts = [LONG_TURN, 'slow 3 second', 'hello   there,\n  third']
    await start_long_turn(chat)
    for number, text in enumerate(texts[1:], start=2):
        await chat.send(f'm-{number}', text)

    waiting = await chat.wait_for(lambda s: len(s.turns) == 3, 'three turns')
    assert [(t.number, t.message_id, t.user_text, t.status) for t in waiting.turns] == [
        (1, 'm-1', texts[0], 'running'),
        (2, 'm-2', texts[1], 'queued'),
        (3, 'm-3', texts[2], 'queued'),
    ]
    assert waiting.status == 'thinking'
    await wait_for_attribute(chat, SA_STATUS, 'thinking')

    done = await chat.wait_finished(1, 2, 3)
    assert [(t.status, t.reply) for t in done.turns] == [('done', expected_reply(text)) for text in texts]
    assert done.title == LONG_TURN[:TITLE_CHARS]
    await wait_for_attribute(chat, SA_STATUS, 'idle')
    await wait_for_attribute(chat, SA_TITLE, LONG_TURN)

    frames = await chat.read_stream()
    # One at a time: a turn's events all come after the previous turn's RUN_FINISHED, never between.
    assert [f['turn'] for f in frames] == sorted(f['turn'] for f in frames)
    assert [(f['turn'], f['result']) for f in frames if f['type'] == RUN_FINISHED] == [
        (number, expected_reply(text)) for number, text in enumerate(texts, start=1)
    ]
    # A plain turn's stream, event by event: one model step streaming its tokens, then the turn's end.
    second = of_turn(frames, 2)
    tokens = scripted_reply(texts[1])[0]
    assert [(f['type'], f['turn'], f['step'], f['attempt']) for f in second] == [
        ('TEXT_MESSAGE_START', 2, 1, 1),
        *[(TEXT_MESSAGE_CONTENT, 2, 1, 1)] * len(tokens),
        ('TEXT_MESSAGE_END', 2, 1, 1),
        (RUN_FINISHED, 2, 0, 1),
    ]
    assert [f['delta'] for f in second if f['type'] == TEXT_MESSAGE_CONTENT] == tokens
    assert [f['seq'] for f in second[:-1]] == list(range(len(second) - 1))


async def test_the_title_is_the_first_message_on_one_line_cut_short(new_chat: NewChat) -> None:
    chat = await new_chat()
    first = 'a  title\nover   lines ' + 'x' * 100
    await chat.send('m-1', first)
    await chat.send('m-2', 'not the title')
    done = await chat.wait_finished(1, 2)
    assert done.title == ' '.join(first.split())[:TITLE_CHARS]
    assert len(done.title) == TITLE_CHARS


async def test_a_message_id_delivered_again_is_ignored(new_chat: NewChat) -> None:
    chat = await new_chat()
    await start_long_turn(chat)
    # Again while it is answered, and under another text: the first delivery is the message.
    await chat.send('m-1', LONG_TURN)
    await chat.send('m-2', 'hello')
    await chat.send('m-1', 'another text, the same id')
    await chat.send('m-2', 'hello')
    done = await chat.wait_finished(1, 2)
    assert [(t.number, t.message_id, t.user_text) for t in done.turns] == [
        (1, 'm-1', LONG_TURN),
        (2, 'm-2', 'hello'),
    ]
    # Long after it was answered too; a new id still makes a turn (signals arrive in order).
    await chat.send('m-1', LONG_TURN)
    await chat.send('m-3', 'bye')
    done = await chat.wait_finished(3)
    assert [(t.number, t.message_id, t.reply) for t in done.turns] == [
        (1, 'm-1', expected_reply(LONG_TURN)),
        (2, 'm-2', expected_reply('hello')),
        (3, 'm-3', expected_reply('bye')),
    ]
    frames = await chat.read_stream()
    assert [f['turn'] for f in frames if f['type'] == RUN_FINISHED] == [1, 2, 3]


async def test_messages_past_the_queue_limit_are_kept_as_dropped_and_never_answered(
    new_chat: NewChat,
) -> None:
    chat = await new_chat(SessionLimits(max_queued=2))
    await start_long_turn(chat)
    texts = {2: 'second', 3: 'third', 4: 'fourth ' + 'x' * 500, 5: 'fifth'}
    for number, text in texts.items():
        await chat.send(f'm-{number}', text)

    waiting = await chat.wait_for(lambda s: len(s.turns) == 5, 'five turns')
    assert [t.status for t in waiting.turns] == ['running', 'queued', 'queued', 'dropped', 'dropped']
    assert [(t.user_text, t.reply) for t in waiting.turns[3:]] == [
        (texts[4][:DROPPED_TEXT_CHARS], QUEUE_FULL_REPLY),
        (texts[5], QUEUE_FULL_REPLY),
    ]

    done = await chat.wait_finished(1, 2, 3)
    assert [(t.status, t.reply) for t in done.turns[1:]] == [
        ('done', expected_reply(texts[2])),
        ('done', expected_reply(texts[3])),
        ('dropped', QUEUE_FULL_REPLY),
        ('dropped', QUEUE_FULL_REPLY),
    ]
    frames = await chat.read_stream()
    assert not of_turn(frames, 4) and not of_turn(frames, 5)
    # The limit is on waiting messages: once the queue is short again, messages are answered.
    await chat.send('m-6', 'sixth')
    done = await chat.wait_finished(6)
    assert (done.turns[-1].number, done.turns[-1].reply) == (6, expected_reply('sixth'))


async def test_messages_past_the_queued_bytes_limit_are_dropped(new_chat: NewChat) -> None:
    chat = await new_chat(SessionLimits(max_queued_bytes=100))
    await start_long_turn(chat)
    await chat.send('m-2', 'a' * 60)
    await chat.send('m-3', 'b' * 60)  # 120 bytes waiting: over
    await chat.send('m-4', 'c' * 40)  # 100 bytes waiting: at the limit, fits
    done = await chat.wait_finished(1, 2, 3, 4)
    assert [(t.message_id, t.status) for t in done.turns] == [
        ('m-1', 'done'),
        ('m-2', 'done'),
        ('m-3', 'dropped'),
        ('m-4', 'done'),
    ]
    assert streamed(of_turn(await chat.read_stream(), 4)) == expected_reply('c' * 40)
