"""Check-ins: the `check_in` tool the session answers itself, the turn it posts at each of a check-in's
times, and the `cancel_check_in` update.

A check-in is a Temporal Schedule (`check_in_schedules.py`): the session creates it with an activity
when the model calls the tool, and at each scheduled time the schedule's `CheckInDue` run signals the
session, which queues a check-in turn (no user message) asking the model to check in with the user.
Cancelling it, or closing the session, deletes the schedule.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic_ai.tools import ToolDefinition
from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError

from durable_chat.workflows.check_in_schedules import SCHEDULE_CALL, CheckInSchedules, schedule_id
from durable_chat.workflows.contract import (
    SIGNAL_CHECK_IN,
    UPDATE_CANCEL_CHECK_IN,
    CancelCheckIn,
    CheckIn,
    CheckInCame,
    Turn,
)
from durable_chat.workflows.shared import CheckInSchedule, SessionState

CHECK_IN_TOOL = 'check_in'
MAX_ACTIVE = 10
"""Active check-ins a session may hold: each is a schedule in Temporal that fires until cancelled."""
MIN_EVERY_SECONDS = 2
MAX_EVERY = timedelta(days=366)
KEEP_CANCELLED = 20
"""Cancelled check-ins the state keeps (for the page's list); older ones are let go."""
CHECK_INS_PATCH = 'check-ins'
"""Marks a history whose session set a check-in (sessions before it never held a schedule)."""
DUE_PROMPT = '[Check-in due]'
"""How a check-in turn's prompt starts: the model is asked to check in, not to answer a message."""
SESSION_CLOSED_BY = 'session closed'

CHECK_IN_DEFINITION = ToolDefinition(
    name=CHECK_IN_TOOL,
    description=(
        'Set a recurring check-in: on a schedule, this chat asks the user about the text (how their week '
        'went, whether they drank water). Give either `every_seconds` (an interval, at least '
        f'{MIN_EVERY_SECONDS}) or `cron`: 5 fields (minute hour day-of-month month day-of-week) meant in '
        'the user\'s time zone, such as "0 9 * * 1" for every Monday at 9:00.'
    ),
    parameters_json_schema={
        'type': 'object',
        'properties': {
            'text': {'type': 'string', 'description': 'What to ask the user about.'},
            'every_seconds': {'type': 'integer', 'minimum': MIN_EVERY_SECONDS},
            'cron': {'type': 'string', 'description': "5-field cron in the user's time zone."},
        },
        'required': ['text'],
        'additionalProperties': False,
    },
    kind='external',
)

_FIELDS = (
    ('minute', 0, 59),
    ('hour', 0, 23),
    ('day of the month', 1, 31),
    ('month', 1, 12),
    ('day of the week', 0, 7),
)
_NAMES = {
    3: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
    4: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'],
}
_ITEM = re.compile(r'^(?:\*|(?P<low>\w+)(?:-(?P<high>\w+))?)(?:/(?P<step>\d+))?$')
_DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday']


def cron_problem(cron: str) -> str | None:
    """Why a cron can't be a check-in's schedule, or None (Temporal checks it again)."""
    fields = cron.split()
    if len(fields) != len(_FIELDS):
        return f'`cron` needs 5 fields (minute hour day-of-month month day-of-week), not {len(fields)}: {cron!r}.'
    for index, (value, (name, low, high)) in enumerate(zip(fields, _FIELDS, strict=True)):
        for item in value.split(','):
            match = _ITEM.match(item)
            numbers = [match[k] for k in ('low', 'high') if match and match[k]] if match else []
            if match is None or any(_number(n, index) not in range(low, high + 1) for n in numbers):
                return f'the {name} field of `cron` is not valid: {value!r} (from {low} to {high}).'
    return None


def _number(text: str, field: int) -> int:
    if text.isdigit():
        return int(text)
    names = _NAMES.get(field, [])
    return (
        names.index(text.lower()[:3]) + (field == 3) if text.lower()[:3] in names and len(text) == 3 else -1
    )


def schedule_in_words(cron: str, every_seconds: int, timezone: str) -> str:
    if not cron:
        return 'every ' + _interval(every_seconds)
    minute, hour, day, month, weekday = cron.split()
    zone = f' ({timezone or "UTC"})'
    if not (minute.isdigit() and hour.isdigit() and day == '*' and month == '*'):
        return f'on the cron schedule {cron}{zone}'
    at = f'at {int(hour):02d}:{int(minute):02d}'
    if weekday == '*':
        return f'every day {at}{zone}'
    if weekday == '1-5':
        return f'every weekday {at}{zone}'
    if all(d.isdigit() and int(d) <= 7 for d in weekday.split(',')):
        days = [_DAYS[int(d)] for d in weekday.split(',')]
        listed = days[0] if len(days) == 1 else ', '.join(days[:-1]) + ' and ' + days[-1]
        return f'every {listed} {at}{zone}'
    return f'on the cron schedule {cron}{zone}'


def _interval(seconds: int) -> str:
    for unit, size in (('day', 86_400), ('hour', 3_600), ('minute', 60)):
        if seconds % size == 0:
            count = seconds // size
            return unit if count == 1 else f'{count} {unit}s'
    return f'{seconds} seconds'


def check_in_spec(args: dict[str, Any]) -> tuple[str, str, int] | str:
    """A `check_in` call's (text, cron, every_seconds), or why it is refused (said to the model)."""
    text = str(args.get('text') or '').strip()
    if not text:
        return 'Give the check-in a text: what to ask the user about.'
    cron, every = args.get('cron'), args.get('every_seconds')
    if (cron is None) == (every is None):
        return 'Give exactly one of `every_seconds` or `cron`.'
    if cron is not None:
        cron = ' '.join(str(cron).split())
        problem = cron_problem(cron)
        return problem if problem is not None else (text, cron, 0)
    if not isinstance(every, int | float) or every != int(every) or every < MIN_EVERY_SECONDS:
        return f'`every_seconds` must be a whole number of seconds, at least {MIN_EVERY_SECONDS}.'
    if every > MAX_EVERY.total_seconds():
        return 'A check-in may come at most a year apart.'
    return text, '', int(every)


def listed(check_ins: list[CheckIn]) -> list[CheckIn]:
    """Active ones in the order they were set, then the cancelled ones, latest first."""
    return [
        *(c for c in check_ins if c.status == 'active'),
        *reversed([c for c in check_ins if c.status != 'active']),
    ]


def due_prompt(check_in: CheckIn, due: str, timezone: str) -> str:
    return (
        f'{DUE_PROMPT} The user asked you (in turn {check_in.set_in_turn}) to check in with them '
        f'{check_in.schedule}. It is {_local(due, timezone)} now; ask them about: {check_in.text}\n'
        'Write the check-in to the user, briefly.'
    )


def _local(iso: str, timezone: str) -> str:
    try:
        zone = ZoneInfo(timezone or 'UTC')
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo('UTC')
    try:
        return datetime.fromisoformat(iso).astimezone(zone).strftime('%A %Y-%m-%d %H:%M %Z')
    except ValueError:
        return iso


def _failure(error: ActivityError) -> str:
    cause = error.cause
    if isinstance(cause, FailureError) and cause.message:
        return cause.message
    return 'the schedule could not be made (Temporal did not answer); try again later'


class CheckIns:
    """The session workflow's check-ins: the `check_in` call it answers, the `check_in` signal that
    queues a check-in turn, the `cancel_check_in` update, and deleting the schedules on close."""

    state: SessionState
    _seen: set[str]
    _closing: bool

    async def _check_in(self, turn: Turn, args: dict[str, Any]) -> str:
        spec = check_in_spec(args)
        if isinstance(spec, str):
            return f'No check-in was set: {spec}'
        if sum(c.status == 'active' for c in self.state.check_ins) >= MAX_ACTIVE:
            return f'No check-in was set: a chat may hold at most {MAX_ACTIVE} check-ins; cancel one first.'
        workflow.patched(CHECK_INS_PATCH)
        text, cron, every = spec
        check_in = self._new_check_in(turn.number, text, cron, every)
        # Held before the schedule exists, so a close meanwhile deletes it too; shielded, so an
        # interrupted turn still learns whether it was made (and keeps it only if it was).
        making = asyncio.ensure_future(self._make_schedule(check_in))
        try:
            problem = await asyncio.shield(making)
        except asyncio.CancelledError:
            await making
            raise
        if problem is not None:
            return f'No check-in was set: {problem}'
        return f'Check-in {check_in.id} set, {check_in.schedule}: {check_in.text}'

    def _new_check_in(self, turn: int, text: str, cron: str, every: int) -> CheckIn:
        count = sum(c.set_in_turn == turn for c in self.state.check_ins)
        check_in_id = f'c{turn}-{count + 1}'
        check_in = CheckIn(
            id=check_in_id,
            text=text,
            schedule=schedule_in_words(cron, every, self.state.timezone),
            set_in_turn=turn,
            cron=cron,
            every_seconds=every,
            schedule_id=schedule_id(self.state.session_id, check_in_id),
        )
        self.state.check_ins.append(check_in)
        cancelled = [c for c in self.state.check_ins if c.status != 'active']
        for old in cancelled[:-KEEP_CANCELLED]:
            self.state.check_ins.remove(old)
        return check_in

    async def _make_schedule(self, check_in: CheckIn) -> str | None:
        """None once the schedule exists; else why not (and the check-in is let go)."""
        request = CheckInSchedule(
            schedule_id=check_in.schedule_id,
            session_id=self.state.session_id,
            check_in_id=check_in.id,
            cron=check_in.cron,
            every_seconds=check_in.every_seconds,
            timezone=self.state.timezone,
            note=f'check-in {check_in.id}: {check_in.text}'[:200],
        )
        try:
            await workflow.execute_activity_method(CheckInSchedules.create, request, **SCHEDULE_CALL)
        except ActivityError as error:
            self.state.check_ins.remove(check_in)
            return _failure(error)
        return None

    @workflow.signal(name=SIGNAL_CHECK_IN)
    def check_in_came(self, came: CheckInCame) -> None:
        """Queues the check-in turn of one scheduled time, once; a cancelled check-in's late one is
        ignored, and so is one while the same check-in's last turn still waits in the queue."""
        check_in = self._check_in_of(came.check_in_id)
        message_id = f'check_in:{came.check_in_id}:{came.due}'
        if check_in is None or check_in.status != 'active' or self._closing or message_id in self._seen:
            return
        self._seen.add(message_id)
        self.state.seen_message_ids.append(message_id)
        prefix = f'check_in:{check_in.id}:'
        if any(t.status == 'queued' and t.message_id.startswith(prefix) for t in self.state.turns):
            return
        if sum(t.status == 'queued' for t in self.state.turns) >= self.state.limits.max_queued:
            return
        number = self.state.next_turn_number()
        check_in.fired += 1
        check_in.last_fired_turn = number
        self.state.turns.append(Turn(number=number, message_id=message_id, user_text='', kind='check_in'))

    def _check_in_prompt(self, turn: Turn) -> str:
        _, check_in_id, due = turn.message_id.split(':', 2)
        check_in = self._check_in_of(check_in_id) or CheckIn(
            id=check_in_id, text='(a check-in since let go)', schedule='', set_in_turn=0
        )
        return due_prompt(check_in, due, self.state.timezone)

    @workflow.update(name=UPDATE_CANCEL_CHECK_IN)
    async def cancel_check_in(self, request: CancelCheckIn) -> CheckIn:
        check_in = self._check_in_of(request.check_in_id)
        assert check_in is not None
        check_in.status = 'cancelled'  # from now on its signals are ignored
        check_in.cancelled_by = request.by
        await self._delete_schedule(check_in)
        return check_in

    @cancel_check_in.validator
    def _validate_cancel_check_in(self, request: CancelCheckIn) -> None:
        check_in = self._check_in_of(request.check_in_id)
        if check_in is None:
            raise ValueError(f'no check-in {request.check_in_id}')
        if check_in.status != 'active':
            raise ValueError(f'check-in {request.check_in_id} is {check_in.status} already')

    async def _close_check_ins(self) -> None:
        """The session closes: no check-in may fire after it (a schedule left behind by a failed delete
        deletes itself when its next run finds the session closed)."""
        for check_in in self.state.check_ins:
            if check_in.status == 'active':
                check_in.status = 'cancelled'
                check_in.cancelled_by = SESSION_CLOSED_BY
                await self._delete_schedule(check_in)

    async def _delete_schedule(self, check_in: CheckIn) -> None:
        try:
            await workflow.execute_activity_method(
                CheckInSchedules.delete, check_in.schedule_id, **SCHEDULE_CALL
            )
        except ActivityError:
            workflow.logger.warning(
                'schedule %s of check-in %s not deleted', check_in.schedule_id, check_in.id
            )

    def _check_in_of(self, check_in_id: str) -> CheckIn | None:
        return next((c for c in self.state.check_ins if c.id == check_in_id), None)
