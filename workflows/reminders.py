"""Reminders: the `remind` tool the session itself answers, and the turn it posts when one is due.

The tool is a deferred (external) tool: the model's call ends the agent run, the workflow stores the
reminder in its state and answers the call, and the agent run resumes. Nothing runs in an activity,
so the reminder is durable the moment the workflow records the call; its timer is the workflow's own
(`ChatSession._wait_for_work`), carried across continue-as-new in the state.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic_ai.tools import ToolDefinition
from pydantic_ai.toolsets import ExternalToolset
from temporalio import workflow

from durable_chat.workflows.check_ins import CHECK_IN_DEFINITION
from durable_chat.workflows.contract import UPDATE_CANCEL_REMINDER, CancelReminder, Reminder, Turn
from durable_chat.workflows.shared import SessionState, TurnDeps

REMIND_TOOL = 'remind'
MAX_AHEAD = timedelta(days=366)
KEEP_FINISHED = 20
"""Fired and cancelled reminders the state keeps (for the page's list); older ones are let go."""
REMINDERS_PATCH = 'reminders'
"""Marks a history whose session set a reminder (sessions before it never waited on a timer)."""
DUE_PROMPT = '[Reminder due]'
"""How a reminder turn's prompt starts: the model is asked to deliver it, not to answer a message."""

_REMIND = ToolDefinition(
    name=REMIND_TOOL,
    description=(
        'Set a reminder: at the chosen time this chat posts a message to the user with the text. '
        "Give either `in_seconds` (from now) or `at` (a local date and time in the user's time zone, "
        'ISO 8601 such as 2026-11-25T09:00).'
    ),
    parameters_json_schema={
        'type': 'object',
        'properties': {
            'text': {'type': 'string', 'description': 'What to remind the user of.'},
            'in_seconds': {'type': 'integer', 'minimum': 1},
            'at': {'type': 'string', 'description': 'Local date and time, ISO 8601.'},
        },
        'required': ['text'],
        'additionalProperties': False,
    },
    kind='external',
)

session_actions: ExternalToolset[TurnDeps] = ExternalToolset(
    [_REMIND, CHECK_IN_DEFINITION], id='session_actions'
)
"""The tools the session workflow answers itself (reminders, check-ins), added to an agent's run when it
takes reminders."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or 'UTC')
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo('UTC')


def due_time(args: dict[str, Any], now: datetime, timezone: str) -> datetime | str:
    """When a `remind` call's reminder is due (UTC), or why the call is refused (said to the model)."""
    if not str(args.get('text') or '').strip():
        return 'Give the reminder a text.'
    seconds, at = args.get('in_seconds'), args.get('at')
    if (seconds is None) == (at is None):
        return 'Give exactly one of `in_seconds` or `at`.'
    if seconds is not None:
        if not isinstance(seconds, int | float) or seconds < 1:
            return '`in_seconds` must be a positive number of seconds.'
        due = now + timedelta(seconds=float(seconds))
    else:
        try:
            local = datetime.fromisoformat(str(at))
        except ValueError:
            return f'`at` is not an ISO 8601 date and time: {at!r}.'
        due = (local if local.tzinfo else local.replace(tzinfo=zone(timezone))).astimezone(UTC)
        if due <= now:
            return f'{in_words(due, timezone)} has passed already; choose a later time.'
    if due - now > MAX_AHEAD:
        return 'A reminder may be at most a year ahead.'
    return due


def in_words(due: datetime, timezone: str) -> str:
    local = due.astimezone(zone(timezone))
    return local.strftime('%Y-%m-%d %H:%M:%S %Z')


def new_reminder(reminders: list[Reminder], turn: int, due: datetime, text: str) -> Reminder:
    count = sum(r.set_in_turn == turn for r in reminders)
    reminder = Reminder(id=f'r{turn}-{count + 1}', due=due.isoformat(), text=text.strip(), set_in_turn=turn)
    reminders.append(reminder)
    finished = [r for r in reminders if r.status != 'pending']
    for old in finished[:-KEEP_FINISHED]:
        reminders.remove(old)
    return reminder


def due_at(reminder: Reminder) -> datetime:
    return datetime.fromisoformat(reminder.due)


def next_pending(reminders: list[Reminder]) -> Reminder | None:
    pending = [r for r in reminders if r.status == 'pending']
    return min(pending, key=due_at) if pending else None


def listed(reminders: list[Reminder]) -> list[Reminder]:
    """Pending ones by due time, then the others, latest first."""
    pending = sorted((r for r in reminders if r.status == 'pending'), key=due_at)
    others = sorted((r for r in reminders if r.status != 'pending'), key=due_at, reverse=True)
    return [*pending, *others]


def due_prompt(reminder: Reminder, timezone: str) -> str:
    set_at = in_words(due_at(reminder), timezone)
    return (
        f'{DUE_PROMPT} The user asked you (in turn {reminder.set_in_turn}) to remind them now ({set_at}) '
        f'of: {reminder.text}\nWrite the reminder to the user, briefly.'
    )


class Reminders:
    """The session workflow's reminders: the `remind` call it answers, the wait that also watches the
    next reminder's due time, the reminder turn, and the `cancel_reminder` update."""

    state: SessionState

    def _next_queued(self) -> Turn | None:
        raise NotImplementedError

    async def _wait_for_work(self) -> None:
        """Until a turn is queued: a due reminder queues its reminder turn."""
        while self._next_queued() is None:
            reminder = next_pending(self.state.reminders)
            if reminder is None:
                # No timer: sessions without reminders wait exactly as they always did.
                await workflow.wait_condition(
                    lambda: self._next_queued() is not None or next_pending(self.state.reminders) is not None
                )
                continue
            left = (due_at(reminder) - workflow.now()).total_seconds()
            if left > 0:
                try:
                    await workflow.wait_condition(
                        lambda due=reminder: self._next_queued() is not None or due.status != 'pending',
                        timeout=left,
                    )
                except TimeoutError:
                    pass
                continue
            self._post_reminder(reminder)

    def _post_reminder(self, reminder: Reminder) -> None:
        number = self.state.next_turn_number()
        reminder.status = 'fired'
        reminder.fired_turn = number
        self.state.turns.append(
            Turn(number=number, message_id=f'reminder:{reminder.id}', user_text='', kind='reminder')
        )

    def _prompt(self, turn: Turn) -> str:
        """What the model is asked in this turn: the user's message, or to deliver a reminder."""
        if turn.kind != 'reminder':  # a check-in's turn is asked in `CheckIns._check_in_prompt`
            return turn.user_text
        reminder = next((r for r in self.state.reminders if r.fired_turn == turn.number), None)
        text = reminder.text if reminder else turn.message_id.removeprefix('reminder:')
        fired = reminder or Reminder(id='', due=workflow.now().isoformat(), text=text, set_in_turn=0)
        return due_prompt(fired, self.state.timezone)

    def _remind(self, turn: Turn, args: dict[str, Any]) -> str:
        due = due_time(args, workflow.now(), self.state.timezone)
        if isinstance(due, str):
            return f'No reminder was set: {due}'
        workflow.patched(REMINDERS_PATCH)
        reminder = new_reminder(self.state.reminders, turn.number, due, str(args['text']))
        return f'Reminder {reminder.id} set for {in_words(due, self.state.timezone)}: {reminder.text}'

    @workflow.update(name=UPDATE_CANCEL_REMINDER)
    def cancel_reminder(self, request: CancelReminder) -> Reminder:
        reminder = self._reminder(request.reminder_id)
        assert reminder is not None
        reminder.status = 'cancelled'
        reminder.cancelled_by = request.by
        return reminder

    @cancel_reminder.validator
    def _validate_cancel_reminder(self, request: CancelReminder) -> None:
        reminder = self._reminder(request.reminder_id)
        if reminder is None:
            raise ValueError(f'no reminder {request.reminder_id}')
        if reminder.status != 'pending':
            raise ValueError(f'reminder {request.reminder_id} is {reminder.status} already')

    def _reminder(self, reminder_id: str) -> Reminder | None:
        return next((r for r in self.state.reminders if r.id == reminder_id), None)
