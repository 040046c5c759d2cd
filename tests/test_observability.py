"""Metrics and structured logs: Prometheus from the worker's Temporal runtime and from the API;
JSON log lines on request; tokens in neither."""

from __future__ import annotations

import json

import httpx
import pytest

from durable_chat.testing import services
from durable_chat.testing.chat_client import ChatClient
from durable_chat.testing.processes import durable_chat, free_port
from tests.conftest import token_for

pytestmark = pytest.mark.integration

WORKER_READY = 'worker polling task queue'


async def test_worker_and_api_export_metrics_and_json_logs(service_env: dict[str, str], workers) -> None:
    workers.ensure_one()
    metrics_port = free_port()
    env = {**service_env, 'DURABLE_CHAT_LOG_FORMAT': 'json'}
    worker = services.worker({**env, 'DURABLE_CHAT_METRICS_PORT': str(metrics_port)}, 'chat')
    api = services.api(env)
    token = token_for('otto')
    with services.running(worker, api):
        base = api.url
        async with httpx.AsyncClient(base_url=base, headers={'Authorization': f'Bearer {token}'}) as http:
            session_id = (await http.post('/sessions', json={})).json()['session_id']
            client = await ChatClient(base, session_id, token).connect()
            await client.send('m-1', 'hello metrics')
            await client.wait_for(lambda: client.finished(1))
            await client.disconnect()
            api_metrics = (await http.get('/metrics')).text
        assert 'durable_chat_http_requests_total{method="POST",route="/sessions",status="201"}' in api_metrics
        assert 'durable_chat_websocket_frames_sent_total{type="RUN_FINISHED"}' in api_metrics
        assert session_id not in api_metrics and token not in api_metrics
        async with httpx.AsyncClient() as http:
            sdk_metrics = (await http.get(f'http://127.0.0.1:{metrics_port}/metrics')).text
        assert 'temporal_' in sdk_metrics
    log_lines = [line for line in worker.output if line.startswith('{')]
    assert log_lines and all(json.loads(line)['level'] for line in log_lines)
    assert any(WORKER_READY in json.loads(line)['message'] for line in log_lines)
    assert all(token not in line for line in worker.output + api.output)


def test_tracing_is_off_by_default_and_says_what_it_needs(service_env: dict[str, str]) -> None:
    worker = durable_chat(
        'worker', {**service_env, 'DURABLE_CHAT_WORKER_ROLES': 'chat', 'DURABLE_CHAT_LOGFIRE': 'true'}
    )
    worker.start()
    assert worker.popen is not None and worker.popen.wait(60) == 2
    assert "needs the logfire package: pip install 'durable-chat[tracing]'" in '\n'.join(worker.output)
