"""The agent registry refuses what it cannot serve, with the reason and where it came from."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest
from pydantic_ai import Agent, RunContext
from pydantic_ai.models.function import FunctionModel
from pydantic_ai.models.test import TestModel
from pydantic_ai.usage import RunUsage

from durable_chat.settings import Settings
from durable_chat.workflows.agents import ChatDeps
from durable_chat.workflows.agents.registry import RegistryError, load_registry
from durable_chat.workflows.agents.specs import BUILTIN_DIR
from durable_chat.workflows.agents.tools import side_effect
from durable_chat.workflows.events import redis_client


def agent_settings(agents_dir: Path | str, module: str | None = None) -> Settings:
    # Explicit: this package's environment names other agents and models.
    return Settings(agents_dir=str(agents_dir), agents_module=module, model='offline')


def spec(directory: Path, file: str, text: str) -> None:
    directory.mkdir(exist_ok=True)
    (directory / file).write_text(text)


def test_the_builtin_chat_agent_is_a_spec_with_the_deployments_model_and_the_offline_one() -> None:
    registry = load_registry(
        Settings(model='import:durable_chat.testing.scripted:model', agents_dir=None, agents_module=None)
    )
    [card] = registry.cards()
    assert (card.name, card.default_model, card.models) == (
        'chat',
        'import:durable_chat.testing.scripted:model',
        ['import:durable_chat.testing.scripted:model', 'offline'],
    )
    assert registry.default_agent == 'chat' and registry.summarizer is not None


def test_a_spec_dropped_into_the_directory_joins_the_registry(tmp_path: Path) -> None:
    spec(
        tmp_path,
        'helper.yaml',
        'name: helper\ndescription: Helps.\ninstructions: Help.\nmetadata: {models: [offline]}\n',
    )
    registry = load_registry(agent_settings(f'{BUILTIN_DIR}:{tmp_path}'))
    assert [(c.name, c.description, c.models) for c in registry.cards()] == [
        ('chat', 'The built-in assistant, with a long-term memory of each user.', ['offline']),
        ('helper', 'Helps.', ['offline']),
    ]


def test_two_agents_with_one_name_are_refused_naming_both(tmp_path: Path) -> None:
    spec(tmp_path, 'a.yaml', 'name: chat\nmetadata: {models: [offline]}\n')
    with pytest.raises(RegistryError, match=r"two agents are named 'chat': .*chat\.yaml and .*a\.yaml"):
        load_registry(agent_settings(f'{BUILTIN_DIR}:{tmp_path}'))


@pytest.mark.parametrize(
    ('text', 'reason'),
    [
        ('name: summarizer\n', "the agent name 'summarizer' is reserved"),
        ('name: "two words"\n', 'must be a letter then letters'),
        ('name: x\nmetadata: {models: [offline], context_window: -5}\n', 'context_window'),
        ('name: x\nmetadata: {tools: {t: {timeout: 1, retry: 2}}}\n', 'retry'),
        ('name: x\nmetadata: {mcp_servers: {t: {comand: x}}}\n', "MCP server 't'"),
    ],
)
def test_a_bad_spec_is_refused_with_its_file_and_reason(tmp_path: Path, text: str, reason: str) -> None:
    spec(tmp_path, 'bad.yaml', text)
    with pytest.raises(RegistryError, match=reason):
        load_registry(agent_settings(tmp_path))


def test_a_python_agent_must_carry_durable_chat_and_its_module_must_import(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = ModuleType('bare_agents')
    module.plain = Agent(TestModel(), name='plain')  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, 'bare_agents', module)
    with pytest.raises(RegistryError, match=r'bare_agents:plain: add `capabilities=\[DurableChat'):
        load_registry(agent_settings(BUILTIN_DIR, 'bare_agents'))

    with pytest.raises(RegistryError, match="'no_such_module' cannot be imported"):
        load_registry(agent_settings(BUILTIN_DIR, 'no_such_module'))


async def test_a_side_effect_tool_called_again_for_the_same_call_returns_what_it_returned(
    settings: Settings,
) -> None:
    acted: list[str] = []

    @side_effect
    async def send_email(ctx: RunContext[ChatDeps], to: str) -> str:
        acted.append(to)
        return f'sent to {to} ({len(acted)})'

    def call(call_id: str) -> RunContext[ChatDeps]:
        deps = ChatDeps(session_id='s-effect', turn=3)
        return RunContext(
            deps=deps, model=FunctionModel(lambda m, i: None), usage=RunUsage(), tool_call_id=call_id
        )  # type: ignore[arg-type]

    first = await send_email(call('c-1'), 'ana@example.com')
    again = await send_email(call('c-1'), 'ana@example.com')  # a retried attempt of the same call
    other = await send_email(call('c-2'), 'ana@example.com')  # another call: acts

    assert (first, again, other) == ('sent to ana@example.com (1)', first, 'sent to ana@example.com (2)')
    assert acted == ['ana@example.com', 'ana@example.com']
    await redis_client().delete('tool-result:s-effect:3:c-1', 'tool-result:s-effect:3:c-2')
