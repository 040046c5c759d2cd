"""Real model, message -> first token: llama.cpp's server with Qwen2.5 0.5B Instruct on this CPU
(durable_chat.testing.real_model), called directly with pydantic-ai's `run_stream` on
`OpenAIChatModel`. The durable path to the same server (through the product) is the other half of
the row: `rows(direct, durable)` puts both side by side.

Each turn is a new conversation with the same short prompt, read to its end (`max_tokens` bounds
it) so the next turn does not queue behind it: the server answers one request at a time.

`python -m bench.real_model --turns N` runs the direct half alone on a server of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from pydantic_ai import Agent
from pydantic_ai.settings import ModelSettings

from bench.stats import summary
from durable_chat.testing.real_model import chat_model, model_server
from durable_chat.testing.services import running

SCENARIO = 'real model, message -> first token'
PROMPT = 'Say hello to me in one short sentence.'
SETTINGS = ModelSettings(temperature=0, max_tokens=32)


async def direct_first_tokens(base_url: str, turns: int) -> list[float]:
    """Seconds from `run_stream` to the first text delta, one sample per turn, on the server at
    `base_url` (its `/v1`). A first, untimed turn loads the prompt into the server's cache."""
    agent = Agent(chat_model(base_url), model_settings=SETTINGS)
    samples: list[float] = []
    for turn in range(turns + 1):
        started = time.monotonic()
        first: float | None = None
        async with agent.run_stream(PROMPT) as result:
            async for _delta in result.stream_text(delta=True, debounce_by=None):
                if first is None:
                    first = time.monotonic() - started
        if turn > 0 and first is not None:
            samples.append(first)
    return samples


def rows(direct: list[float], durable: list[float] | None = None) -> dict[str, dict[str, float]]:
    """The scenario's rows: the direct call, and the durable path when measured in the same run."""
    paths = {'direct run_stream (OpenAIChatModel)': summary(direct)}
    if durable is not None:
        paths['durable, existing session'] = summary(durable)
    return paths


async def run(turns: int) -> dict[str, dict[str, float]]:
    """The direct half on a model server started for it (and stopped after)."""
    server = model_server()
    with running(server):
        return rows(await direct_first_tokens(server.base_url, turns))


if __name__ == '__main__':
    parser = argparse.ArgumentParser(prog='python -m bench.real_model')
    parser.add_argument('--turns', type=int, default=50)
    print(asyncio.run(run(parser.parse_args().turns)))
