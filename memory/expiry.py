"""The scheduled purge of expired memories: a Temporal Schedule (made once, at memory-worker start)
starts `MemoryExpiryPurge` on the memory task queue every hour, which runs the purge activity.

Expired memories are already hidden from every read (`memory.points.current_filter`); the purge
only frees their space, so a late or skipped run changes nothing a user sees. The schedule id and
the workflow name are persisted: never rename them.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

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
    )

    from durable_chat.memory.types import PURGE_EXPIRED_MEMORIES, PurgeResult

PURGE_WORKFLOW = 'MemoryExpiryPurge'
PURGE_SCHEDULE_ID = 'memory-expiry-purge'
PURGE_EVERY = timedelta(hours=1)


@workflow.defn(name=PURGE_WORKFLOW)
class MemoryExpiryPurge:
    @workflow.run
    async def run(self) -> int:
        result = await workflow.execute_activity(
            PURGE_EXPIRED_MEMORIES,
            result_type=PurgeResult,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5),
        )
        return result.deleted


async def ensure_purge_schedule(client: Client, task_queue: str) -> None:
    """Creates the hourly purge schedule unless it exists (every memory worker calls this)."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            PURGE_WORKFLOW,
            # Temporal appends the scheduled time to this id for each run it starts.
            id=PURGE_SCHEDULE_ID,
            task_queue=task_queue,
            execution_timeout=PURGE_EVERY,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=PURGE_EVERY)]),
        # A purge missed while Temporal was down is not worth running late: the next one catches up.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(minutes=1)),
    )
    try:
        await client.create_schedule(PURGE_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        pass
