"""The chat worker compiles a workflow's module once: every sandboxed instance still runs it in a module
of its own, and a source file edited under a running worker changes nothing it runs."""

from __future__ import annotations

import importlib
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from durable_chat.testing.servers import TemporalServer
from durable_chat.workflows.worker import compile_once

pytestmark = pytest.mark.integration

SOURCE = """
from temporalio import workflow

STARTS: list[str] = []
VERSION = {version!r}


@workflow.defn(name='Counted')
class Counted:
    @workflow.run
    async def run(self) -> str:
        STARTS.append(workflow.info().workflow_id)
        return f'{{VERSION}} {{len(STARTS)}}'
"""


@pytest.fixture
def module_dir(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))


async def test_instances_run_the_code_compiled_first_each_in_its_own_module(module_dir: Path) -> None:
    name = f'counted_{uuid.uuid4().hex[:8]}'
    source = module_dir / f'{name}.py'
    source.write_text(SOURCE.format(version='compiled'))
    module = importlib.import_module(name)
    server = TemporalServer(module_dir / 'temporal').start()
    try:
        client = await Client.connect(server.address)
        async with Worker(client, task_queue='counted', workflows=compile_once([module.Counted])):
            first = await client.execute_workflow(
                'Counted', id='first', task_queue='counted', result_type=str
            )
            source.write_text(SOURCE.format(version='edited under the worker'))
            second = await client.execute_workflow(
                'Counted', id='second', task_queue='counted', result_type=str
            )
    finally:
        server.stop()
    # Each instance counted only its own start: module globals are per instance.
    assert (first, second) == ('compiled 1', 'compiled 1')
    assert module.STARTS == []  # the worker's own import of the module was never run in
