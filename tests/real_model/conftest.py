"""The real model tier: llama.cpp's server with Qwen2.5 0.5B Instruct (durable_chat.testing.real_model),
one for the whole test session, on a port that stays the same when a test kills and restarts it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from durable_chat.testing.real_model import ModelServer, model_server
from durable_chat.testing.services import running


def kill_and_restart(server: ModelServer) -> None:
    """SIGKILL the server (a reply it is streaming breaks off) and start it again on the same port;
    returns once it serves. Whatever its context held is gone, as after a crash."""
    server.restart()


@pytest.fixture(scope='session')
def real_model_server() -> Iterator[ModelServer]:
    """The session's model server; tests may stop, kill and restart it but leave it serving."""
    server = model_server()
    with running(server):
        yield server


@pytest.fixture
def real_model_url(real_model_server: ModelServer) -> str:
    """The OpenAI API (`.../v1`) of the model server, serving whenever a test starts."""
    if real_model_server.exited():  # a test before this one left it down
        real_model_server.start()
    return real_model_server.base_url
