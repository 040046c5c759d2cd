"""Fuzzing the session websocket: random and malformed frames, binary and huge frames, floods and
abrupt TCP closes. Every bad frame gets an ERROR frame or a proper close code (never 1011), nothing
accepted before is lost, the server stays up, and another user's turn streams on untouched.

The generator is seeded; the seed is printed, and `FUZZ_SEED=<seed>` replays a run.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.chat_client import ChatClient
from tests.conftest import Workers, token_for
from tests.scripted import expected_reply

SEED = int(os.environ.get('FUZZ_SEED', random.randrange(2**32)))
SUFFIX = uuid.uuid4().hex[:8]
USER, BYSTANDER = f'fuzz-ws-{SUFFIX}', f'fuzz-ws-bystander-{SUFFIX}'
LIMIT = 32_000  # DURABLE_CHAT_MAX_MESSAGE_CHARS default
WS_MAX_BYTES = 1024 * 1024  # durable_chat.cli.WS_MAX_BYTES
PROPER_CLOSES = {1003, 1007, 1008, 1009} | set(range(4000, 5000))

Frame = str | bytes


@pytest.fixture(scope='module')
def rng() -> random.Random:
    print(f'websocket fuzz seed: {SEED} (FUZZ_SEED={SEED} replays it)')
    return random.Random(SEED)


async def _session(api_url: str, token: str, text: str) -> tuple[str, ChatClient]:
    """A session whose first turn is done, with a client connected to it."""
    headers = {'Authorization': f'Bearer {token}'}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=30) as http:
        response = await http.post('/sessions', json={'message': {'id': 'first', 'text': text}})
    session_id = response.json()['session_id']
    client = await ChatClient(api_url, session_id, token).connect()
    await client.wait_for(lambda: client.finished(1))
    return session_id, client


@pytest.fixture
async def victim(api_url: str, workers: Workers) -> tuple[str, ChatClient]:
    workers.ensure_one()
    session_id, client = await _session(api_url, token_for(USER), 'accepted before')
    yield session_id, client
    await client.disconnect()


@pytest.fixture
async def bystander(api_url: str, workers: Workers) -> ChatClient:
    """Another user's session, mid-turn (a slow reply) while the fuzzing runs."""
    workers.ensure_one()
    _, client = await _session(api_url, token_for(BYSTANDER), 'hello')
    await client.send('slow', 'slow 60 bystander')
    await client.wait_for(lambda: client.first_delta_index(2) is not None)
    yield client
    await client.disconnect()


async def _history(api_url: str, session_id: str) -> list[tuple[str, str, str]]:
    headers = {'Authorization': f'Bearer {token_for(USER)}'}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=30) as http:
        turns = (await http.get(f'/sessions/{session_id}')).json()['turns']
    return [(t['message_id'], t['user_text'], t['reply']) for t in turns]


async def _assert_healthy(api_url: str, session_id: str, bystander: ChatClient) -> None:
    """The server answers, a new connection works, and the bystander's turn completed whole."""
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        assert (await http.get('/healthz')).status_code == 200
    fresh = await ChatClient(api_url, session_id, token_for(USER)).connect()
    await fresh.wait_for(lambda: fresh.of_type('SNAPSHOT'))
    await fresh.disconnect()
    await bystander.wait_for(lambda: bystander.finished(2), timeout=60)
    assert bystander.streamed_text(2) == expected_reply('slow 60 bystander')


# The generators of bad frames: each returns one frame the server must refuse with an ERROR frame.
def _random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(7 if depth < 3 else 4)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False, 0, -1, 2**70, 1.5e308, -0.0])
    if kind == 2:
        return ''.join(chr(rng.randrange(0x20, 0xD800)) for _ in range(rng.randrange(20)))
    if kind == 3:
        return rng.uniform(-1e9, 1e9)
    if kind in (4, 5):
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(5))]
    value = {str(_random_json(rng, 3)): _random_json(rng, depth + 1) for _ in range(rng.randrange(5))}
    if value.get('type') == 'message':
        value['type'] = 'not a message'
    return value


def _message(**fields: Any) -> str:
    return json.dumps({'type': 'message', 'id': 'ok-id', 'text': 'hello', **fields})


BAD_FRAMES: dict[str, Callable[[random.Random], Frame]] = {
    'random bytes': lambda rng: rng.randbytes(rng.randrange(1, 4000)),
    'random text': lambda rng: (
        '~' + ''.join(chr(rng.randrange(0x20, 0xD800)) for _ in range(rng.randrange(300)))
    ),
    'random json': lambda rng: json.dumps(_random_json(rng)),
    'wrong type': lambda rng: _message(type=rng.choice([None, 1, [], {}, 'MESSAGE', 'message ', '', 'ack'])),
    'wrong id type': lambda rng: _message(id=rng.choice([None, 7, 1.5, [], {'a': 1}, True])),
    'bad id': lambda rng: _message(id=rng.choice(['', 'has space', 'é', 'x' * rng.randrange(101, 50_000)])),
    'no id': lambda rng: json.dumps({'type': 'message', 'text': 'hello'}),
    'wrong text type': lambda rng: _message(text=rng.choice([None, 3, [], {'t': 'x'}, False])),
    'no text': lambda rng: json.dumps({'type': 'message', 'id': 'ok-id'}),
    'blank text': lambda rng: _message(text=rng.choice(['', ' ', '\n\t  '])),
    'text over the limit': lambda rng: _message(text='y' * (LIMIT + rng.randrange(1, 100_000))),
    'truncated': lambda rng: (full := _message(text='cut short'))[: rng.randrange(1, len(full))],
    'deeply nested': lambda rng: '[' * (n := rng.randrange(2_000, 200_000)) + ']' * n,
    'nested in a message': lambda rng: _message(text=json.loads('[' * 500 + ']' * 500)),
    'lone surrogate': lambda rng: _message(text=f'hi {chr(rng.randrange(0xD800, 0xE000))}'),
}


async def test_bad_frames_get_error_frames_and_lose_nothing(
    api_url: str, victim: tuple[str, ChatClient], bystander: ChatClient, rng: random.Random
) -> None:
    session_id, client = victim
    kinds = [rng.choice(sorted(BAD_FRAMES)) for _ in range(300)]
    for kind in kinds:
        await client.send_raw(BAD_FRAMES[kind](rng))
    await client.wait_for(lambda: len(client.of_type('ERROR')) >= len(kinds))
    await client.send('after', 'still here')
    await client.wait_for(lambda: client.finished(2))

    errors = client.of_type('ERROR')
    assert len(errors) == len(kinds), 'one ERROR frame per bad frame, no more'
    wrong = [
        (k, e) for k, e in zip(kinds, errors, strict=True) if not (400 <= e['status'] < 500 and e['reason'])
    ]
    assert not wrong, wrong[:5]
    assert client.close_code is None
    assert await _history(api_url, session_id) == [
        ('first', 'accepted before', expected_reply('accepted before')),
        ('after', 'still here', expected_reply('still here')),
    ]
    await _assert_healthy(api_url, session_id, bystander)
