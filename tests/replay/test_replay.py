"""Every recorded session history replays on today's code: a change that would break running
sessions fails here. Record new ones with tests/replay/test_record.py (see its docstring)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_ai.durable_exec.temporal import PydanticAIPlugin
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from durable_chat.memory.workflows import MemoryOperation
from durable_chat.workflows.session import ChatSession
from durable_chat.workflows.shared import SessionStart, TurnDeps

HISTORIES = sorted((Path(__file__).parent / 'histories').glob('*.json'))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f'recorded-{path.stem}', path.read_text())


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
    }


@pytest.mark.parametrize('path', HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path) -> None:
    replayer = Replayer(workflows=[ChatSession, MemoryOperation], plugins=[PydanticAIPlugin()])
    await replayer.replay_workflow(load(path))


@workflow.defn(name='ChatSession')
class ChatSessionThatSkipsRecall(ChatSession):
    """A deliberately non-deterministic change: no memory recall before the model runs."""

    @workflow.run
    async def run(self, start: SessionStart) -> None:
        await super().run(start)

    async def _recall(self, deps: TurnDeps, text: str) -> list[str]:
        return []


async def test_a_non_deterministic_change_fails_the_replay() -> None:
    replayer = Replayer(workflows=[ChatSessionThatSkipsRecall, MemoryOperation], plugins=[PydanticAIPlugin()])
    with pytest.raises(workflow.NondeterminismError):
        await replayer.replay_workflow(load(HISTORIES[0]))
