"""What a client shows for a turn, from the frames it received, by the page's rules (frontend/common.js).

- A SNAPSHOT replaces what the client held: a turn it holds finished shows the snapshot's reply, the
  live text of other turns starts again from the stream events that follow.
- ATTEMPT_STARTED drops what the same model step streamed so far (a retried activity starts over).
- Nothing of a turn is added after TURN_INTERRUPTED (or after it finished).
- RUN_FINISHED carries the reply, which the page shows in place of the streamed text.
- A delegated sub-agent's frames (`parentToolCallId`) are its card's, not the reply's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FINISHED = frozenset({'done', 'failed', 'interrupted', 'dropped'})


@dataclass
class TurnView:
    held: str | None
    """The reply of the last snapshot that held the turn finished."""
    result: str | None
    """RUN_FINISHED's reply, if the stream delivered it."""
    streamed: str
    """The text the deltas built (attempt-started, snapshot and interrupted rules applied)."""

    @property
    def rendered(self) -> str:
        if self.held is not None:
            return self.held
        return self.result if self.result is not None else self.streamed


def view(frames: list[dict[str, Any]], turn: int) -> TurnView:
    parts: dict[tuple[int, int, str], str] = {}
    status, result, held = 'running', None, None
    for frame in frames:
        kind = frame.get('type')
        if kind == 'SNAPSHOT':
            parts, status, result = {}, 'running', None
            snap = next((t for t in frame['session']['turns'] if t['number'] == turn), None)
            held = snap['reply'] if snap is not None and snap['status'] in FINISHED else None
            continue
        if frame.get('turn') != turn or 'event_id' not in frame or 'parentToolCallId' in frame:
            continue
        if kind == 'ATTEMPT_STARTED':
            parts = {key: text for key, text in parts.items() if key[0] != frame['step']}
        elif kind == 'TEXT_MESSAGE_CONTENT' and status == 'running':
            key = (frame['step'], frame['attempt'], frame['messageId'])
            parts[key] = parts.get(key, '') + frame['delta']
        elif kind == 'RUN_FINISHED':
            status, result = 'done', frame.get('result')
        elif kind == 'RUN_ERROR':
            status = 'failed'
        elif kind == 'TURN_INTERRUPTED':
            status = 'interrupted'
    return TurnView(held=held, result=result, streamed=''.join(parts.values()))


def is_gap(streamed: str, reply: str) -> bool:
    """The streamed words are the reply's with some missing (a lost stream tail), never extra or moved."""
    words = iter(reply.split())
    return all(word in words for word in streamed.split())
