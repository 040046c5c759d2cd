"""Simulated users: each chats in its own session over the real websocket, like the page does.

Odd-numbered users chat with the lead agent (examples/delegation): some of their messages delegate a
task to the researcher, which runs as a child workflow while the faults land.

On a dropped connection a user reconnects to whichever API answers, with its last event id, and sends
again every message the server never acknowledged (same id, so never answered twice). A user that
hears nothing for a while reloads (a fresh snapshot), as a person would.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import websockets

from durable_chat.testing.chat_client import ChatClient
from durable_chat.workflows.delegation import DELEGATE_TOOL

TURN_DEADLINE_SECONDS = 240
SILENCE_SECONDS = 25
"""No frame for this long while a turn is unfinished: the user reloads the page."""
CONNECT_BACKOFF = (0.25, 2.0)
LEAD_AGENT = 'lead'
DELEGATED = re.compile(rf'call {DELEGATE_TOOL} (\{{.*\}})')


def delegated_task(text: str) -> str | None:
    """The task a message has the lead delegate to the researcher (None: not a delegation)."""
    match = DELEGATED.fullmatch(text)
    return json.loads(match[1])['task'] if match else None


def script(rng: random.Random, user: int, turn: int, lead: bool = False) -> str:
    """Unique texts, so history answers map to messages; slow and long replies keep kills mid-stream.
    A lead agent's user also delegates: the researcher streams a slow reply in a child workflow."""
    roll = rng.random()
    label = f'u{user}t{turn}'
    if lead and roll < 0.35:
        task = f'slow {rng.randint(15, 45)} {label}r'
        return f'call {DELEGATE_TOOL} {json.dumps({"agent": "researcher", "task": task})}'
    if roll < 0.5:
        return f'slow {rng.randint(15, 45)} {label}w'
    if roll < 0.65:
        return f'long {label}'
    if roll < 0.8:
        return f'remember that chaos user {user} likes the number {user * 1000 + turn}'
    return f'hello from user {user} turn {turn}'


@dataclass
class User:
    index: int
    api_urls: list[str]
    token: str
    rng: random.Random
    session_id: str = ''
    client: ChatClient | None = None
    sent: list[tuple[str, str]] = field(default_factory=list[tuple[str, str]])
    reconnects: int = 0
    reloads: int = 0
    gave_up: list[int] = field(default_factory=list[int])

    @property
    def name(self) -> str:
        return f'chaos-user-{self.index}'

    @property
    def lead(self) -> bool:
        """This user's session runs the lead agent, which delegates."""
        return self.index % 2 == 1

    @property
    def accepted(self) -> set[str]:
        """Message ids an API acknowledged: from then on they are the product's to keep."""
        assert self.client is not None
        return {f['id'] for f in self.client.of_type('ACK')}

    @property
    def streaming(self) -> bool:
        """A reply of this user's is mid-stream (tokens arrived, the turn has not finished)."""
        client, turn = self.client, len(self.sent)
        return bool(
            client and turn and client.of_type('TEXT_MESSAGE_CONTENT', turn) and not client.done(turn)
        )

    async def start(self) -> None:
        headers = {'Authorization': f'Bearer {self.token}'}
        while not self.session_id:
            for url in self._urls():
                try:
                    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
                        response = await http.post(
                            '/sessions', json={'agent': LEAD_AGENT} if self.lead else {}
                        )
                    if response.status_code == 201 or response.status_code == 200:
                        self.session_id = response.json()['session_id']
                        break
                except httpx.HTTPError:
                    continue
            else:
                await asyncio.sleep(CONNECT_BACKOFF[0])
        self.client = ChatClient(self.api_urls[0], self.session_id, self.token)
        await self._connect(after=None)

    def _urls(self) -> list[str]:
        return self.rng.sample(self.api_urls, len(self.api_urls))

    async def _connect(self, after: str | None) -> None:
        assert self.client is not None
        delay = CONNECT_BACKOFF[0]
        while True:
            for url in self._urls():
                self.client.ws_url = url.replace('http', 'ws', 1) + f'/ws/sessions/{self.session_id}'
                try:
                    await self.client.connect(after=after)
                    await self._resend()
                    return
                except (OSError, websockets.WebSocketException, TimeoutError):
                    continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, CONNECT_BACKOFF[1])

    async def _resend(self) -> None:
        assert self.client is not None
        accepted = self.accepted
        for message_id, text in self.sent:
            if message_id not in accepted:
                await self.client.send(message_id, text)

    async def _reconnect(self, after: str | None) -> None:
        assert self.client is not None
        self.reconnects += 1
        await self.client.disconnect()
        await asyncio.sleep(CONNECT_BACKOFF[0])  # as the page waits before reconnecting
        await self._connect(after=after)

    async def send(self, text: str) -> int:
        assert self.client is not None
        self.sent.append((f'{self.name}-{len(self.sent) + 1}', text))
        try:
            await self.client.send(*self.sent[-1])
        except websockets.WebSocketException:
            await self._reconnect(self.client.last_event_id)
        return len(self.sent)

    async def wait_done(self, turn: int) -> None:
        client = self.client
        assert client is not None
        deadline = time.monotonic() + TURN_DEADLINE_SECONDS
        while not client.done(turn):
            if time.monotonic() > deadline:
                self.gave_up.append(turn)
                return
            seen = len(client.frames)
            try:
                await client.wait_for(
                    lambda seen=seen: client.done(turn) or len(client.frames) > seen, SILENCE_SECONDS
                )
            except AssertionError:  # the socket closed: its API died, or it could not serve us
                await self._reconnect(client.last_event_id)
            except TimeoutError:
                self.reloads += 1
                await self._reconnect(after=None)

    async def chat(self, min_turns: int, keep_going: Callable[[], bool]) -> None:
        """Sends messages one after another (sometimes two at once) until the quota and the faults are done."""
        while len(self.sent) < min_turns or keep_going():
            turn = await self.send(script(self.rng, self.index, len(self.sent) + 1, self.lead))
            if self.rng.random() < 0.1:
                turn = await self.send(script(self.rng, self.index, len(self.sent) + 1, self.lead))
            for number in range(max(turn - 1, 1), turn + 1):
                await self.wait_done(number)
            if self.gave_up:
                return  # a stuck session: the checker reports it

    async def close(self) -> None:
        if self.client is not None:
            await self.client.disconnect()
