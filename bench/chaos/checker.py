"""The invariants, checked against Temporal's history (and the memory store), never the product's API."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from qdrant_client import models
from temporalio.client import Client

from bench.chaos.history import SessionHistory, read_session
from bench.chaos.render import is_gap, view
from bench.chaos.users import User, delegated_task
from durable_chat.memory.collection import open_client
from durable_chat.memory.rules import normalise
from durable_chat.settings import Settings
from durable_chat.testing.scripted import expected_reply
from durable_chat.workflows.contract import SA_STATUS, workflow_id
from durable_chat.workflows.delegation import DELEGATE_TOOL

INVARIANTS = {
    'accepted': 'every accepted message is in history',
    'once': 'every message answered exactly once',
    'order': 'answers in message order, per session',
    'scripted': 'each answer is the reply to its own message',
    'rendered': "client's rendered text equals the reply in history",
    'no_double': 'no doubled or reordered streamed text',
    'delivered_once': 'every stream event delivered once per (turn, step, attempt, kind)',
    'memory_once': 'no memory written twice',
    'delegated_once': 'every delegated task ran in one child workflow, completed, answered once',
    'settled': 'session idle (or closed) within the bound after the last fault',
}


@dataclass
class Verdict:
    checked: Counter[str] = field(default_factory=Counter[str])
    violated: Counter[str] = field(default_factory=Counter[str])
    details: list[str] = field(default_factory=list[str])
    figures: Counter[str] = field(default_factory=Counter[str])

    def check(self, name: str, held: bool, detail: str) -> None:
        self.checked[name] += 1
        if not held:
            self.violated[name] += 1
            self.details.append(f'{name}: {detail}')

    @property
    def ok(self) -> bool:
        return not self.violated


async def wait_settled(
    client: Client, users: list[User], since: float, bound: float
) -> dict[str, float | None]:
    """Seconds from `since` until each session was idle (or closed) in Temporal visibility; None: never."""
    settled: dict[str, float | None] = {u.session_id: None for u in users}
    deadline = since + bound
    while True:
        statuses: dict[str, str | None] = {}
        async for execution in client.list_workflows("WorkflowType = 'ChatSession'"):
            status = execution.status.name if execution.status is not None else 'UNKNOWN'
            if status == 'RUNNING':
                statuses[execution.id] = execution.typed_search_attributes.get(SA_STATUS)
            elif status != 'CONTINUED_AS_NEW':
                statuses[execution.id] = status.lower()  # failed / terminated / timed_out never settle
        now = time.monotonic()
        for session_id, when in settled.items():
            if when is None and statuses.get(workflow_id(session_id)) in ('idle', 'completed', 'canceled'):
                settled[session_id] = round(max(0.0, now - since), 2)
        if all(v is not None for v in settled.values()) or now > deadline:
            return settled
        await asyncio.sleep(0.5)


def expected_answer(text: str) -> str:
    """The scripted model's answer: a delegation's is the lead's words around the researcher's."""
    task = delegated_task(text)
    return expected_reply(text) if task is None else f'{DELEGATE_TOOL} said: {expected_reply(task)}'


def check_delegation(history: SessionHistory, task: str, where: str, verdict: Verdict) -> None:
    """One child ran the task, it completed, and its researcher answered it once, as scripted."""
    ran = [d for d in history.delegations if any(a.prompt == task for a in d.answers)]
    answers = [a.reply for d in ran for a in d.answers if a.prompt == task]
    held = [d.status for d in ran] == ['COMPLETED'] and answers == [expected_reply(task)]
    detail = f'{where} {task!r}: children {[(d.workflow_id, d.status) for d in ran]}, {len(answers)} answers'
    verdict.check('delegated_once', held, detail)
    verdict.figures['delegated turns'] += 1


def check_session(user: User, history: SessionHistory, verdict: Verdict) -> None:
    assert user.client is not None
    where = f'session {user.session_id} ({user.name})'
    signaled = {m.id for m in history.messages}
    for message_id in sorted(user.accepted):
        verdict.check(
            'accepted', message_id in signaled, f'{where}: {message_id} acknowledged, never signalled'
        )
    answered: list[str] = []
    for index, message in enumerate(history.messages, start=1):
        # A reminder turn has no message: a message's turn is the one the session gave it.
        number = history.turn_of.get(message.id, index)
        replies = history.answers_to(message.text)
        verdict.check(
            'once', len(replies) == 1, f'{where} turn {number} {message.text!r}: {len(replies)} answers'
        )
        if not replies:
            continue
        reply = replies[0]
        answered.append(message.text)
        if not message.text.startswith('remember that'):
            ok = reply == expected_answer(message.text)
            verdict.check('scripted', ok, f'{where} turn {number}: {reply[:80]!r} for {message.text!r}')
        if (task := delegated_task(message.text)) is not None:
            check_delegation(history, task, f'{where} turn {number}', verdict)
        shown = view(user.client.frames, number)
        verdict.check(
            'rendered', shown.rendered == reply, f'{where} turn {number}: shows {shown.rendered[:80]!r}'
        )
        if shown.held is not None:
            verdict.figures['turns joined from a snapshot'] += 1
        elif shown.streamed == reply:
            verdict.figures['turns streamed exactly'] += 1
        elif is_gap(shown.streamed, reply):
            verdict.figures['turns streamed with a gap (RUN_FINISHED filled it)'] += 1
        ok = shown.held is not None or is_gap(shown.streamed, reply)
        verdict.check('no_double', ok, f'{where} turn {number}: streamed {shown.streamed[:120]!r}')
    faults = user.client.delivery_faults()
    verdict.check('delivered_once', not faults, f'{where}: {"; ".join(faults[:5])}')
    in_order = [a.prompt for a in history.answers if a.prompt in set(answered)] == answered
    verdict.check('order', in_order, f'{where}: answers out of order')
    verdict.figures['turns'] += len(history.messages)
    verdict.figures['client reconnects'] += user.reconnects
    verdict.figures['client reloads after silence'] += user.reloads
    verdict.figures['retried attempts seen by clients'] += len(user.client.of_type('ATTEMPT_STARTED'))
    verdict.figures['activities that needed a retry'] += history.retried_activities
    verdict.figures['continue-as-new runs'] += history.runs - 1


async def check_memory(
    users: list[User], histories: list[SessionHistory], data_dir: Path, verdict: Verdict
) -> None:
    """Each fact a user asked to remember is one point in Qdrant (opened as the product opens it,
    under the stack's data dir), and was added once in history."""
    added = Counter(
        (s.memory.user_id, normalise(s.memory.text))
        for h in histories
        for s in h.stores
        if s.action == 'added'
    )
    store, _offload = await open_client(Settings(data_dir=data_dir))
    try:
        for user, history in zip(users, histories, strict=True):
            user_filter = models.Filter(
                must=[models.FieldCondition(key='user_id', match=models.MatchValue(value=user.name))]
            )
            points, _ = await store.scroll(
                'memories', scroll_filter=user_filter, limit=10_000, with_payload=True
            )
            stored = Counter(normalise(str(p.payload['text'])) for p in points if p.payload)
            facts = [
                m.text.removeprefix('remember that ')
                for m in history.messages
                if m.text.startswith('remember that')
            ]
            for fact in facts:
                key = normalise(fact)
                once = stored[key] == 1 and added[(user.name, key)] <= 1
                detail = f'{user.name} {fact!r}: {stored[key]} points, added {added[(user.name, key)]} times'
                verdict.check('memory_once', once, detail)
    finally:
        await store.close()


async def check_all(client: Client, users: list[User], data_dir: Path | None, verdict: Verdict) -> None:
    """`data_dir`: the stack's, to read its memory store (None: the memory is not checked)."""
    histories = [await read_session(client, u.session_id) for u in users]
    for user, history in zip(users, histories, strict=True):
        check_session(user, history, verdict)
    if data_dir is not None:
        await check_memory(users, histories, data_dir, verdict)
