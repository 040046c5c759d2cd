"""Check-ins' Temporal Schedules: the activities that create and delete them (they need a client, so
they are methods of a class built with the worker's), and `CheckInDue`, the tiny workflow each
scheduled time starts, which signals the session.

A schedule's id is the check-in's, so creating it again (a retried activity) finds it there and
makes no second one. The session is signalled by workflow id, so the signal reaches its current run
across continue-as-new; a session that is closed or gone can't be signalled, and the schedule then
deletes itself.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from temporalio.client import (
        Client,
        Schedule,
        ScheduleActionStartWorkflow,
        ScheduleAlreadyRunningError,
        ScheduleIntervalSpec,
        ScheduleOverlapPolicy,
        SchedulePolicy,
        ScheduleSpec,
        ScheduleState,
    )
    from temporalio.common import SearchAttributeKey
    from temporalio.service import RPCError, RPCStatusCode

    from durable_chat.workflows.contract import CHECK_IN_DUE, SIGNAL_CHECK_IN, CheckInCame, workflow_id
    from durable_chat.workflows.shared import CheckInSchedule, CheckInTarget

INVALID_SCHEDULE = 'InvalidSchedule'
"""The error type of a schedule Temporal refused (a cron it can't read): said to the model, not retried."""
CATCH_UP = timedelta(minutes=1)
"""A time missed while Temporal itself was down fires late only within this: after a long outage a
check-in comes once at its next time, not once per time missed."""
DUE_TIMEOUT = timedelta(hours=1)
"""A `CheckInDue` that found no worker for this long gives up: that time is missed."""
SCHEDULED_START = SearchAttributeKey.for_datetime('TemporalScheduledStartTime')
"""Set by Temporal on each workflow a schedule starts: the time it was due."""
SCHEDULE_CALL: dict[str, Any] = {
    'start_to_close_timeout': timedelta(seconds=10),
    'schedule_to_close_timeout': timedelta(seconds=60),
}
"""The session's calls of the activities below: a minute of retries, then the tool or update says so."""


def schedule_id(session_id: str, check_in_id: str) -> str:
    return f'checkin-{session_id}-{check_in_id}'


class CheckInSchedules:
    """The schedule activities, run by the chat worker with its client."""

    def __init__(self, client: Client) -> None:
        self.client = client

    @activity.defn(name='create_check_in_schedule')
    async def create(self, request: CheckInSchedule) -> None:
        target = CheckInTarget(request.session_id, request.check_in_id, request.schedule_id)
        schedule = Schedule(
            action=ScheduleActionStartWorkflow(
                CHECK_IN_DUE,
                target,
                # Temporal appends the scheduled time to this id for each run it starts.
                id=request.schedule_id,
                task_queue=activity.info().task_queue,
                execution_timeout=DUE_TIMEOUT,
            ),
            spec=_spec(request),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCH_UP),
            state=ScheduleState(note=request.note),
        )
        try:
            await self.client.create_schedule(request.schedule_id, schedule)
        except ScheduleAlreadyRunningError:
            pass  # made by an earlier attempt of this activity
        except RPCError as error:
            if error.status == RPCStatusCode.INVALID_ARGUMENT:
                raise ApplicationError(error.message, type=INVALID_SCHEDULE, non_retryable=True) from error
            raise

    @activity.defn(name='delete_check_in_schedule')
    async def delete(self, schedule_id: str) -> None:
        try:
            await self.client.get_schedule_handle(schedule_id).delete()
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise  # gone already is what was asked

    def all(self) -> list[Callable[..., Any]]:
        return [self.create, self.delete]


def _spec(request: CheckInSchedule) -> ScheduleSpec:
    if request.cron:
        return ScheduleSpec(cron_expressions=[request.cron], time_zone_name=request.timezone or 'UTC')
    return ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=request.every_seconds))])


@workflow.defn(name=CHECK_IN_DUE)
class CheckInDue:
    """One scheduled time of a check-in: tells the session, which queues the check-in turn."""

    @workflow.run
    async def run(self, target: CheckInTarget) -> str:
        due = workflow.info().typed_search_attributes.get(SCHEDULED_START) or workflow.now()
        came = CheckInCame(check_in_id=target.check_in_id, due=due.astimezone(UTC).isoformat())
        session = workflow.get_external_workflow_handle(workflow_id(target.session_id))
        try:
            await session.signal(SIGNAL_CHECK_IN, came)
        except ApplicationError:
            # Closed or gone (ExternalWorkflowExecutionNotFound): nobody is left to check in with.
            await workflow.execute_activity_method(
                CheckInSchedules.delete, target.schedule_id, start_to_close_timeout=timedelta(seconds=30)
            )
            return 'the session is closed: schedule deleted'
        return f'signalled for {came.due}'
