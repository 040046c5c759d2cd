"""A recorded history that does not replay, kept so the day it does is noticed.

A session deleted (then cancelled) while its first turn ran. Its turn's memory-hint local activity
finished as the workflow task was being completed, so the code after it ran in the next workflow
task: the history reads [local activity marker][new workflow task][patch marker `turn-time-budget`].
Replaying it (as a query of the closed run does, or a worker that lost its cache) fails with
TMPRL1100 "Non-deprecated patch marker encountered for change turn-time-budget, but there is no
corresponding change command", though the same code produced it. About one run in eight of this
scenario, on a loaded two-core machine, records such a history; runs whose marker follows the local
activity in the same workflow task replay. The cause is not found yet (the SDK's handling of a
local activity resolved across a workflow task boundary, or ours).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_ai.durable_exec.temporal import PydanticAIPlugin
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from durable_chat.memory.workflows import MemoryOperation
from durable_chat.workflows.session import ChatSession

HISTORY = Path(__file__).parent / 'unexplained' / 'delete-mid-turn-local-activity-across-tasks.json'


async def test_a_patch_after_a_local_activity_resolved_in_the_next_task_fails_to_replay() -> None:
    history = WorkflowHistory.from_json('unexplained', HISTORY.read_text())
    replayer = Replayer(workflows=[ChatSession, MemoryOperation], plugins=[PydanticAIPlugin()])
    with pytest.raises(workflow.NondeterminismError, match='turn-time-budget'):
        await replayer.replay_workflow(history)
