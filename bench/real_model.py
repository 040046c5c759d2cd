"""Real model, message -> first token: llama.cpp's server with Qwen2.5 0.5B Instruct on this CPU
(durable_chat.testing.real_model), two ways in the same run on the same server:

- direct: pydantic-ai's `run_stream` on `OpenAIChatModel`, from `run_stream` to the first text delta;
- durable: through the product (API, Temporal, a chat worker, Redis, the websocket), from the message
  sent on the websocket to the first TEXT_MESSAGE_CONTENT frame of its turn. The agent is a spec file
  with the direct half's model settings and no instructions or memory, so the server gets the same
  request; each sample is a new session, made and connected before the clock starts, so the model
  sees the same one-message conversation as the direct half.

The two are sampled in turn, each run read to its end (`max_tokens` bounds it) so the next does not
queue behind it: the server answers one request at a time. `rows(direct, durable)` puts them side by
side.

`python -m bench.real_model --turns N` runs both on a server and a stack of their own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import httpx
from pydantic_ai import Agent
from pydantic_ai.settings import ModelSettings

from bench.stack import BENCH_SETTINGS
from bench.stats import summary
from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.readiness import POLL_SECONDS
from durable_chat.testing.real_model import MODEL_NAME, chat_model, model_server
from durable_chat.testing.services import running
from durable_chat.testing.stack import Stack

SCENARIO = 'real model, message -> first token'
PROMPT = 'Say hello to me in one short sentence.'
SETTINGS = ModelSettings(temperature=0, max_tokens=32)
AGENT = 'bench-local'
TURN_TIMEOUT = 120.0


async def direct_first_token(agent: Agent[None, str]) -> float:
    """Seconds from `run_stream` to the first text delta of one run, read to its end."""
    started = time.monotonic()
    first: float | None = None
    async with agent.run_stream(PROMPT) as result:
        async for _delta in result.stream_text(delta=True, debounce_by=None):
            if first is None:
                first = time.monotonic() - started
    if first is None:
        raise RuntimeError(f'the model streamed no text for {PROMPT!r}')
    return first


def direct_agent(base_url: str) -> Agent[None, str]:
    return Agent(chat_model(base_url), model_settings=SETTINGS)


async def direct_first_tokens(base_url: str, turns: int) -> list[float]:
    """`direct_first_token`, one sample per turn, on the server at `base_url` (its `/v1`). A first,
    untimed turn loads the prompt into the server's cache."""
    agent = direct_agent(base_url)
    samples = [await direct_first_token(agent) for _ in range(turns + 1)]
    return samples[1:]


def agents_dir(folder: Path) -> Path:
    """A folder holding the durable half's agent: a spec of `MODEL_NAME` with the direct half's settings."""
    directory = folder / 'agents'
    directory.mkdir(parents=True, exist_ok=True)
    spec = {
        'name': AGENT,
        'description': "The real model bench: the direct half's request, through the product.",
        'model_settings': dict(SETTINGS),
        'metadata': {'models': [MODEL_NAME], 'memory': False, 'reminders': False},
    }
    (directory / f'{AGENT}.json').write_text(json.dumps(spec))
    return directory


def real_model_stack(base_url: str) -> Stack:
    """A stack (not started) whose only agent is `AGENT` on the model server at `base_url`."""
    folder = Path(tempfile.mkdtemp(prefix='durable-chat-bench-real-model-'))
    settings = {
        **BENCH_SETTINGS,
        'DURABLE_CHAT_MODEL_BASE_URL': base_url,
        'DURABLE_CHAT_AGENTS_DIR': str(agents_dir(folder)),
    }
    return Stack(folder=folder, secret='bench-secret', settings=settings)


async def new_session(http: httpx.AsyncClient, timeout: float = 60) -> str:
    """A session of `AGENT`. The chat worker publishes its agents just after it starts polling: until
    the API reads them (503, no agents yet) the request is made again, up to `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        response = await http.post('/sessions', json={'agent': AGENT, 'model': MODEL_NAME})
        if response.status_code == 201:
            return response.json()['session_id']
        if response.status_code != 503 or time.monotonic() > deadline:
            raise RuntimeError(f'POST /sessions: {response.status_code} {response.text[:200]}')
        await asyncio.sleep(POLL_SECONDS)


async def durable_first_token(http: httpx.AsyncClient, api_url: str, token: str) -> float:
    """Seconds from a message sent on the websocket of a new session of `AGENT` (made and connected
    before the clock starts) to its turn's first text token, the turn read to its end."""
    client = await ChatClient(api_url, await new_session(http), token).connect()
    try:
        await client.wait_for(lambda: client.of_type('SNAPSHOT'))
        started = time.monotonic()
        await client.send('m', PROMPT)
        index = await client.wait_for(lambda: client.first_delta_index(1), TURN_TIMEOUT)
        await client.wait_for(lambda: client.finished(1), TURN_TIMEOUT)
        return client.received_at[index] - started
    finally:
        await client.disconnect()


async def first_tokens(
    base_url: str, api_url: str, token: str, turns: int
) -> tuple[list[float], list[float]]:
    """(direct, durable) samples, `turns` of each, taken in turn: a load that comes and goes on the
    machine weighs on both alike. A first, untimed pair loads the prompt into the server's cache and
    tells the worker this user has no memories to recall."""
    agent = direct_agent(base_url)
    direct: list[float] = []
    durable: list[float] = []
    async with httpx.AsyncClient(base_url=api_url, headers={'Authorization': f'Bearer {token}'}) as http:
        for _ in range(turns + 1):
            direct.append(await direct_first_token(agent))
            durable.append(await durable_first_token(http, api_url, token))
    return direct[1:], durable[1:]


def rows(direct: list[float], durable: list[float] | None = None) -> dict[str, dict[str, float]]:
    """The scenario's rows: the direct call, and the durable path when measured in the same run."""
    paths = {'direct run_stream (OpenAIChatModel)': summary(direct)}
    if durable is not None:
        paths['durable, websocket (session made beforehand)'] = summary(durable)
    return paths


async def run(turns: int) -> dict[str, dict[str, float]]:
    """Both halves on a model server and a stack started for them (and stopped after)."""
    server = model_server()
    with running(server):
        stack = real_model_stack(server.base_url).start(apis=[{}])
        try:
            direct, durable = await first_tokens(
                server.base_url, stack.apis[0].url, stack.token('bench'), turns
            )
        finally:
            stack.stop()
    return rows(direct, durable)


if __name__ == '__main__':
    parser = argparse.ArgumentParser(prog='python -m bench.real_model')
    parser.add_argument('--turns', type=int, default=50)
    print(asyncio.run(run(parser.parse_args().turns)))
