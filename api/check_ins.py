"""A session's check-ins as the API shows them: what the session holds, with each active one's next
time read from its Temporal Schedule."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from datetime import datetime

from temporalio.client import Client
from temporalio.service import RPCError

from durable_chat.workflows.contract import CheckIn


@dataclass
class ListedCheckIn(CheckIn):
    next_run: datetime | None = None
    """When it comes next (UTC), as its schedule says; None once cancelled, or when Temporal can't say."""


async def with_next_runs(client: Client, check_ins: list[CheckIn]) -> list[ListedCheckIn]:
    next_runs = await asyncio.gather(*(_next_run(client, c) for c in check_ins))
    return [ListedCheckIn(**asdict(c), next_run=at) for c, at in zip(check_ins, next_runs, strict=True)]


async def _next_run(client: Client, check_in: CheckIn) -> datetime | None:
    if check_in.status != 'active':
        return None
    try:
        description = await client.get_schedule_handle(check_in.schedule_id).describe()
    except RPCError:
        return None  # the list still answers; the page shows no next time
    return next(iter(description.info.next_action_times), None)
