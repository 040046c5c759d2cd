"""A websocket client that reads a session the way the page does (used by tests and bench)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import websockets

Frame = dict[str, Any]
TURN_ENDS = ('RUN_FINISHED', 'RUN_ERROR', 'TURN_INTERRUPTED')


def event_identity(frame: Frame) -> tuple[object, ...]:
    """What makes a stream event one event. An agent event: (turn, step, attempt, kind, seq), and its
    tool call, since pydantic-ai streams each tool result from an activity of its own (numbered from 0
    again), and the delegation it streams for (two sub-agents of one step share step numbers). A
    workflow event (step 0): its kind within the turn, and the approval or tool call it is about."""
    if frame['step'] == 0:
        return (frame['turn'], 0, frame['type'], frame.get('id', ''))
    tool_call, delegation = frame.get('toolCallId', ''), frame.get('parentToolCallId', '')
    return (
        frame['turn'],
        frame['step'],
        frame['attempt'],
        frame['type'],
        tool_call,
        delegation,
        frame['seq'],
    )


def delivery_faults(frames: list[Frame]) -> list[str]:
    """Every stream event delivered more than once, and every turn ended more than once.

    A SNAPSHOT starts over: the tail after it repeats the unfinished turns, and the page redraws."""
    faults: list[str] = []
    seen: set[tuple[object, ...]] = set()
    ended: dict[int, str] = {}
    for frame in frames:
        if frame.get('type') == 'SNAPSHOT':
            seen.clear()
            ended.clear()
        if 'event_id' not in frame:
            continue
        identity = event_identity(frame)
        if identity in seen:
            faults.append(f'{frame["type"]} {identity} delivered again as {frame["event_id"]}')
        seen.add(identity)
        if frame['type'] in TURN_ENDS:
            if frame['turn'] in ended:
                faults.append(
                    f'turn {frame["turn"]} ended by {ended[frame["turn"]]}, then by {frame["type"]}'
                )
            ended[frame['turn']] = frame['type']
    return faults


class ChatClient:
    def __init__(self, base_url: str, session_id: str, token: str | None = None) -> None:
        self.ws_url = base_url.replace('http', 'ws', 1) + f'/ws/sessions/{session_id}'
        self.token = token
        self.session_id = session_id
        self.frames: list[Frame] = []
        self.received_at: list[float] = []
        self._changed = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None
        self._ws: Any = None
        self.close_code: int | None = None

    @property
    def last_event_id(self) -> str | None:
        return next((f['event_id'] for f in reversed(self.frames) if 'event_id' in f), None)

    async def connect(self, after: str | None = None) -> ChatClient:
        query = {'token': self.token, 'after': after}
        url = self.ws_url + '?' + urlencode({k: v for k, v in query.items() if v})
        self._ws = await websockets.connect(url, max_size=None)
        self._reader = asyncio.create_task(self._read(self._ws))
        return self

    async def _read(self, ws: Any) -> None:
        try:
            async for raw in ws:
                async with self._changed:
                    self.frames.append(json.loads(raw))
                    self.received_at.append(time.monotonic())
                    self._changed.notify_all()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = ws.close_code
            async with self._changed:
                self._changed.notify_all()

    async def disconnect(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await self._reader

    async def send_raw(self, data: str | bytes) -> None:
        await self._ws.send(data)

    async def send(self, message_id: str, text: str) -> None:
        await self.send_raw(json.dumps({'type': 'message', 'id': message_id, 'text': text}))

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 30) -> Any:
        async def until() -> Any:
            async with self._changed:
                while not (result := predicate()):
                    if self._reader is not None and self._reader.done():
                        raise AssertionError(f'socket closed ({self.close_code}) before the condition held')
                    await self._changed.wait()
                return result

        return await asyncio.wait_for(until(), timeout)

    def first_delta_index(self, turn: int, start: int = 0) -> int | None:
        """Index (in `frames` and `received_at`) of the turn's first text token at or after `start`."""
        for index in range(start, len(self.frames)):
            frame = self.frames[index]
            if frame.get('type') == 'TEXT_MESSAGE_CONTENT' and frame.get('turn') == turn:
                return index
        return None

    def delivery_faults(self) -> list[str]:
        return delivery_faults(self.frames)

    def of_type(self, kind: str, turn: int | None = None) -> list[Frame]:
        return [f for f in self.frames if f.get('type') == kind and (turn is None or f.get('turn') == turn)]

    def finished(self, turn: int) -> Frame | None:
        return next(iter(self.of_type('RUN_FINISHED', turn)), None)

    def _snapshot_turn(self, turn: int) -> dict[str, Any] | None:
        snapshots = self.of_type('SNAPSHOT')
        turns = snapshots[-1]['session']['turns'] if snapshots else []
        return next((t for t in turns if t['number'] == turn), None)

    def done(self, turn: int) -> bool:
        """Finished, as the page knows it: a RUN_FINISHED frame, or a (re)connect snapshot holding it done."""
        held = self._snapshot_turn(turn)
        return self.finished(turn) is not None or (held is not None and held['status'] == 'done')

    def rendered_text(self, turn: int) -> str:
        """What the page shows: the snapshot's reply for a turn it holds done, else the streamed text."""
        held = self._snapshot_turn(turn)
        if held is not None and held['status'] == 'done':
            return held['reply']
        return self.streamed_text(turn)

    def streamed_text(self, turn: int) -> str:
        """The turn's text as the deltas build it, applying the attempt-started rule (not RUN_FINISHED)."""
        parts: dict[tuple[int, int, str], str] = {}
        for frame in self.frames:
            if frame.get('turn') != turn:
                continue
            if frame['type'] == 'ATTEMPT_STARTED':
                parts = {key: text for key, text in parts.items() if key[0] != frame['step']}
            elif frame['type'] == 'TEXT_MESSAGE_CONTENT':
                key = (frame['step'], frame['attempt'], frame['messageId'])
                parts[key] = parts.get(key, '') + frame['delta']
        return ''.join(parts.values())
