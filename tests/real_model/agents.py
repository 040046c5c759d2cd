"""The real model tier's Python agent (`DURABLE_CHAT_AGENTS_MODULE=tests.real_model.agents`): the small
local model with one function tool, called through the OpenAI protocol and run as an activity."""

from __future__ import annotations

from pydantic_ai import Agent
from pydantic_ai.settings import ModelSettings

from durable_chat.testing.real_model import MODEL_NAME
from durable_chat.workflows.agents import ChatDeps, DurableChat

CODE = 'ZEBRA-4417'
"""What the tool answers: no model would say it unless the tool's result reached it."""

codes = Agent(
    MODEL_NAME,
    name='codes',
    description='Looks up access codes with a tool.',
    deps_type=ChatDeps,
    instructions='Use the lookup_code tool to find codes, then tell the user the code.',
    model_settings=ModelSettings(temperature=0, max_tokens=80),
    capabilities=[DurableChat(models=[MODEL_NAME], memory=False, reminders=False)],
)


@codes.tool_plain
def lookup_code(name: str) -> str:
    """The access code of the door, system or person called `name`."""
    return f'The access code for {name} is {CODE}.'
