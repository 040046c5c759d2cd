"""The real model server as the product's agents meet it, through pydantic-ai's OpenAI chat model
(no Temporal): replies stream token by token, a second message sees the first, tools are called
through the OpenAI protocol, an overlong request and a server that is down fail the way the product
handles, and a server killed mid-reply serves again once restarted."""

from __future__ import annotations

import pytest
from pydantic_ai import Agent
from pydantic_ai.exceptions import ModelConnectionError, ModelHTTPError, ModelRequestRejectedError
from pydantic_ai.messages import ToolCallPart, ToolReturnPart
from pydantic_ai.settings import ModelSettings
from pydantic_ai.usage import UsageLimits

from durable_chat.testing.model_server import DEFAULT_CTX_SIZE
from durable_chat.testing.real_model import ModelServer, chat_model
from tests.real_model.conftest import kill_and_restart

pytestmark = [pytest.mark.real_model, pytest.mark.integration]

# Greedy decoding: the same reply every run, short enough to keep the tier quick on a CPU.
STEADY = ModelSettings(temperature=0, max_tokens=80)


async def test_reply_streams_token_by_token(real_model_url: str) -> None:
    agent = Agent(chat_model(real_model_url), model_settings=STEADY)
    async with agent.run_stream('Count from one to ten in words, separated by commas.') as result:
        deltas = [delta async for delta in result.stream_text(delta=True, debounce_by=None)]
    assert len(deltas) >= 5, deltas
    text = ''.join(deltas)
    assert text == await result.get_output()
    for earlier, later in zip(['one', 'two', 'three'], ['two', 'three', 'four'], strict=True):
        assert text.lower().index(earlier) < text.lower().index(later), text


async def test_second_message_sees_the_first(real_model_url: str) -> None:
    agent = Agent(chat_model(real_model_url), model_settings=STEADY)
    first = await agent.run('My name is Priya. Please remember it.')
    second = await agent.run('What is my name?', message_history=first.all_messages())
    assert 'priya' in second.output.lower(), second.output


async def test_tool_called_through_the_openai_protocol(real_model_url: str) -> None:
    agent = Agent(
        chat_model(real_model_url),
        instructions='Use the weather tool to answer questions about the weather.',
        model_settings=STEADY,
    )
    cities: list[str] = []

    @agent.tool_plain
    def weather(city: str) -> str:
        """The current weather in a city."""
        cities.append(city)
        return f'Sunny, 21 degrees Celsius in {city}.'

    # A model stuck calling tools would run out of requests and raise.
    result = await agent.run(
        'What is the weather in Paris right now?', usage_limits=UsageLimits(request_limit=4)
    )
    assert cities and 'paris' in cities[0].lower(), cities
    calls = [
        part for message in result.all_messages() for part in message.parts if isinstance(part, ToolCallPart)
    ]
    returns = [
        part
        for message in result.all_messages()
        for part in message.parts
        if isinstance(part, ToolReturnPart)
    ]
    assert calls[0].tool_name == 'weather' and calls[0].tool_call_id
    assert returns[0].tool_call_id == calls[0].tool_call_id
    # A 0.5B model does not reliably quote the result back: that the run ended with a reply is the contract.
    assert isinstance(result.output, str)


@pytest.mark.parametrize('streamed', [False, True], ids=['run', 'run_stream'])
async def test_too_long_a_request_is_rejected(real_model_url: str, streamed: bool) -> None:
    """llama.cpp answers HTTP 400 `exceed_context_size_error` before any token. pydantic-ai reads no
    context-window wording in it, so it is a rejected request, not ModelContextWindowExceededError."""
    agent = Agent(chat_model(real_model_url), model_settings=STEADY)
    prompt = 'hello world ' * DEFAULT_CTX_SIZE  # about two tokens a repetition
    with pytest.raises(ModelRequestRejectedError) as raised:
        if streamed:
            async with agent.run_stream(prompt) as result:
                await result.get_output()
        else:
            await agent.run(prompt)
    assert isinstance(raised.value, ModelHTTPError) and raised.value.status_code == 400
    assert raised.value.provider_error_type == 'exceed_context_size_error'


async def test_stopped_server_gives_a_connection_error(
    real_model_server: ModelServer, real_model_url: str
) -> None:
    agent = Agent(chat_model(real_model_url), model_settings={**STEADY, 'max_retries': 0})
    real_model_server.stop()
    try:
        with pytest.raises(ModelConnectionError) as raised:
            await agent.run('Hello?')
        assert raised.value.phase == 'connect'
    finally:
        real_model_server.start()
    assert (await agent.run('Say hello.')).output


async def test_killed_mid_reply_breaks_the_stream_and_serves_again_on_restart(
    real_model_server: ModelServer, real_model_url: str
) -> None:
    agent = Agent(
        chat_model(real_model_url), model_settings={'temperature': 0, 'max_tokens': 400, 'max_retries': 0}
    )
    received: list[str] = []
    with pytest.raises(ModelConnectionError):
        async with agent.run_stream('Write a long story about a lighthouse keeper.') as result:
            async for delta in result.stream_text(delta=True, debounce_by=None):
                received.append(delta)
                if len(received) == 1:
                    kill_and_restart(real_model_server)
    assert received
    assert real_model_server.base_url == real_model_url
    after = await agent.run('Say hello.', model_settings={'max_tokens': 20})
    assert after.output
