"""Fuzzing the session websocket: random and malformed frames, binary and huge frames, floods and
abrupt TCP closes. Every bad frame gets an ERROR frame or a proper close code (never 1011), nothing
accepted before is lost, the server stays up, and another user's turn streams on untouched.

The generator is seeded; the seed is printed, and `FUZZ_SEED=<seed>` replays a run.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import socket
import struct
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.scripted import expected_reply
from durable_chat.testing.stack import Workers
from tests.conftest import token_for

pytestmark = pytest.mark.integration

SEED = int(os.environ.get('FUZZ_SEED', random.randrange(2**32)))
SUFFIX = uuid.uuid4().hex[:8]
USER, BYSTANDER = f'fuzz-ws-{SUFFIX}', f'fuzz-ws-bystander-{SUFFIX}'
LIMIT = 32_000  # DURABLE_CHAT_MAX_MESSAGE_CHARS default
WS_MAX_BYTES = 1024 * 1024  # durable_chat.cli.WS_MAX_BYTES

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


# Raw frames, for what a well-behaved client library will not send: lies about length, cuts, bad UTF-8.
async def _raw_socket(api_url: str, session_id: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = api_url.removeprefix('http://').split(':')
    reader, writer = await asyncio.open_connection(host, int(port))
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f'GET /ws/sessions/{session_id}?token={token_for(USER)} HTTP/1.1\r\nHost: {host}\r\n'
        f'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n'
        'Sec-WebSocket-Version: 13\r\n\r\n'.encode()
    )
    assert (await reader.readuntil(b'\r\n\r\n')).startswith(b'HTTP/1.1 101')
    return reader, writer


def _frame(
    opcode: int, payload: bytes, *, length: int | None = None, fin: bool = True, mask: bool = True
) -> bytes:
    """A client frame; the zero mask key leaves the payload as it is."""
    length = len(payload) if length is None else length
    first = (0x80 if fin else 0) | opcode
    masked = 0x80 if mask else 0
    if length < 126:
        head = bytes([first, masked | length])
    elif length < 2**16:
        head = bytes([first, masked | 126]) + struct.pack('!H', length)
    else:
        head = bytes([first, masked | 127]) + struct.pack('!Q', length)
    return head + (b'\0\0\0\0' if mask else b'') + payload


async def _close_code(reader: asyncio.StreamReader) -> int | None:
    """Reads the server's frames to its close frame: its code, or None if the TCP connection just ended."""
    try:
        while True:
            head = await reader.readexactly(2)
            length = head[1] & 0x7F
            if length == 126:
                (length,) = struct.unpack('!H', await reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack('!Q', await reader.readexactly(8))
            payload = await reader.readexactly(length)
            if head[0] & 0x0F == 0x8:
                return struct.unpack('!H', payload[:2])[0] if len(payload) >= 2 else None
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


MB = 1024 * 1024
PROTOCOL_ABUSE: dict[str, tuple[bytes, int]] = {
    'a 1 GiB length, no payload': (_frame(0x1, b'', length=2**30), 1009),
    'a 1 GiB binary length, no payload': (_frame(0x2, b'', length=2**30), 1009),
    'fragments adding up past the limit': (
        _frame(0x1, b'[' * (600 * 1024), fin=False) + _frame(0x0, b'1' * (600 * 1024), fin=False),
        1009,
    ),
    'invalid UTF-8 in a text frame': (_frame(0x1, b'{"type": "message", "text": "\xff\xfe"}'), 1007),
    'an unmasked client frame': (_frame(0x1, b'{}', mask=False), 1002),
    'a reserved opcode': (_frame(0x3, b'x'), 1002),
    'a continuation with nothing to continue': (_frame(0x0, b'x'), 1002),
    'a control frame over 125 bytes': (_frame(0x9, b'p' * 200, length=200), 1002),
}


async def test_huge_frames_and_protocol_abuse_get_proper_close_codes(
    api_url: str, victim: tuple[str, ChatClient], bystander: ChatClient, rng: random.Random
) -> None:
    session_id, client = victim
    for data in ('z' * (5 * MB), rng.randbytes(3 * MB), _message(text='q' * (2 * MB))):
        big = await ChatClient(api_url, session_id, token_for(USER)).connect()
        await big.wait_for(lambda b=big: b.of_type('SNAPSHOT'))
        # The server closes on the frame's header: the rest of a big send may meet a closed socket.
        with contextlib.suppress(ConnectionClosed):
            await big.send_raw(data)
        await big.wait_for(lambda b=big: b.close_code is not None)
        assert big.close_code == 1009
    for name, (frame, code) in PROTOCOL_ABUSE.items():
        reader, writer = await _raw_socket(api_url, session_id)
        writer.write(frame)  # the server answers on the header: a 1 GiB payload is never awaited or buffered
        assert (name, await asyncio.wait_for(_close_code(reader), 30)) == (name, code)
        writer.close()

    assert client.close_code is None and not client.of_type('ERROR')
    assert [turn[0] for turn in await _history(api_url, session_id)] == ['first']
    await _assert_healthy(api_url, session_id, bystander)


async def test_a_flood_of_frames_loses_no_accepted_message(
    api_url: str, victim: tuple[str, ChatClient], bystander: ChatClient, rng: random.Random
) -> None:
    session_id, client = victim
    good = {f'flood-{i}': _message(id=f'flood-{i}', text=f'flood {i}') for i in range(8)}
    frames: list[Frame] = [BAD_FRAMES[rng.choice(sorted(BAD_FRAMES))](rng) for _ in range(400)]
    for frame in good.values():
        frames.insert(rng.randrange(len(frames) + 1), frame)
    resends = 20  # a message sent again (a client retrying): acknowledged again, answered once
    for _ in range(resends):
        frame = good[rng.choice(sorted(good))]
        frames.insert(rng.randrange(frames.index(frame) + 1, len(frames) + 1), frame)
    for frame in frames:
        await client.send_raw(frame)
    await client.wait_for(lambda: len(client.of_type('ACK')) == len(good) + resends, timeout=60)
    await client.wait_for(lambda: all(client.finished(turn) for turn in range(2, len(good) + 2)), timeout=120)

    bad = len(frames) - len(good) - resends
    await client.wait_for(lambda: len(client.of_type('ERROR')) >= bad)
    assert len(client.of_type('ERROR')) == bad
    assert client.close_code is None
    history = await _history(api_url, session_id)
    assert sorted(turn[0] for turn in history) == sorted(['first', *good]), 'each accepted message once'
    assert all(reply == expected_reply(text) for _, text, reply in history)
    await _assert_healthy(api_url, session_id, bystander)


async def _open_websockets(api_url: str) -> float:
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        metrics = (await http.get('/metrics')).text
    return float(
        next(
            line.split()[1]
            for line in metrics.splitlines()
            if line.startswith('durable_chat_websockets_open')
        )
    )


async def test_abrupt_closes_mid_frame_leave_nothing_behind(
    api_url: str, victim: tuple[str, ChatClient], bystander: ChatClient, rng: random.Random
) -> None:
    session_id, client = victim
    open_before = await _open_websockets(api_url)
    for i in range(40):
        reader, writer = await _raw_socket(api_url, session_id)
        frame = _frame(0x1, _message(id=f'cut-{i}', text='never whole').encode())
        writer.write(frame[: rng.randrange(1, len(frame))])
        await writer.drain()
        if rng.random() < 0.5:  # a reset rather than a FIN
            writer.get_extra_info('socket').setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)
            )
        writer.close()

    deadline = asyncio.get_running_loop().time() + 30
    while await _open_websockets(api_url) != open_before:  # every handler ended: none leaked
        assert asyncio.get_running_loop().time() < deadline, 'websocket handlers left running'
        await asyncio.sleep(0.1)
    assert client.close_code is None
    assert [turn[0] for turn in await _history(api_url, session_id)] == ['first']
    await _assert_healthy(api_url, session_id, bystander)
