"""Every recorded session history replays on today's code: a change that would break running
sessions fails here. Record new ones with tests/replay/test_record.py (see its docstring)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pydantic_ai.durable_exec.temporal import AgentPlugin, PydanticAIPlugin
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter, ExternalStorage
from temporalio.worker import Replayer

from durable_chat.memory.workflows import MemoryOperation
from durable_chat.payload_store import FileStorageDriver, data_converter
from durable_chat.workflows.session import ChatSession
from durable_chat.workflows.shared import SessionStart, TurnDeps

if TYPE_CHECKING:
    # Not imported at run time: the sandbox re-imports this module (it defines a workflow), and a
    # copy of the registry module there would hold no registry.
    from durable_chat.workflows.agents.registry import Registry

HISTORIES = sorted((Path(__file__).parent / 'histories').glob('*.json'))
PAYLOADS = Path(__file__).parent / 'histories' / 'payloads'
"""The blobs the recorded histories refer to (the claim check, durable_chat/payload_store.py)."""


def load(path: Path) -> WorkflowHistory:
    history = WorkflowHistory.from_json(f'recorded-{path.stem}', path.read_text())
    # A delegation's child workflow id is `<the session's workflow id>--<uuid>`: replayed under
    # another id, the session would start a child of another id.
    started = [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    ]
    if not started:
        return history
    return WorkflowHistory(started[0].rsplit('--', 1)[0], history.events)


def test_the_recorded_scenarios_are_all_there() -> None:
    names = {p.stem.split('-run')[0] for p in HISTORIES}
    assert names == {
        'plain',
        'tool-call',
        'interrupt',
        'approval',
        'continue-as-new',
        'turn-endings',
        'mcp-tool-call',
        'model-switch',
        'redo-and-rename',
        'delete',
        'reminder',
        'double-texting-interrupt',
        'double-texting-reject',
        'check-in',
        'compensation',
        'patches-up-front',
        'delegation',
        'delegation-child1',
        'delegation-child2',
        'claim-check',
        'ag-ui',
        'ag-ui-client-tool',
        'tool-events',
        'prepared-recall',
    }


@pytest.fixture
def converter(tmp_path: Path) -> DataConverter:
    """The product's converter, its store a copy of the recorded blobs: a replay writes the
    payloads of the commands it makes again, and those must not land in the repository."""
    shutil.copytree(PAYLOADS, tmp_path / 'payloads')
    return data_converter(ExternalStorage(drivers=[FileStorageDriver(tmp_path / 'payloads')]))


@pytest.mark.parametrize('path', HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path, registry: Registry, converter: DataConverter) -> None:
    # The agents' plugins register their child workflows (a delegated sub-agent's history).
    plugins = [PydanticAIPlugin(), *(AgentPlugin(agent) for agent in registry.agents())]
    replayer = Replayer(workflows=[ChatSession, MemoryOperation], plugins=plugins, data_converter=converter)
    await replayer.replay_workflow(load(path))


@workflow.defn(name='ChatSession')
class ChatSessionThatSkipsRecall(ChatSession):
    """A deliberately non-deterministic change: no memory recall before the model runs."""

    @workflow.run
    async def run(self, start: SessionStart) -> None:
        await super().run(start)

    async def _recall(self, deps: TurnDeps, text: str, message_id: str) -> list[str]:
        return []


async def test_a_non_deterministic_change_fails_the_replay() -> None:
    replayer = Replayer(workflows=[ChatSessionThatSkipsRecall, MemoryOperation], plugins=[PydanticAIPlugin()])
    with pytest.raises(workflow.NondeterminismError):
        await replayer.replay_workflow(load(HISTORIES[0]))
