"""The embedded Temporal's SQLite database writes ahead (WAL) and keeps what it committed through a kill."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from durable_chat.testing.servers import TemporalServer

pytestmark = pytest.mark.integration


def journal_mode(database: Path) -> str:
    with sqlite3.connect(f'file:{database}?mode=ro', uri=True) as connection:
        return connection.execute('PRAGMA journal_mode').fetchone()[0]


async def test_started_workflow_survives_a_killed_server(tmp_path: Path) -> None:
    server = TemporalServer(tmp_path).start()
    try:
        client = await Client.connect(server.address)
        # No worker polls this queue: the workflow stays as the server wrote it.
        await client.start_workflow('Anything', id='kept', task_queue='nobody polls this')
        assert journal_mode(tmp_path / 'temporal.db') == 'wal'
        server.restart()  # SIGKILL, then start on the same database
        client = await Client.connect(server.address)
        description = await client.get_workflow_handle('kept').describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
    finally:
        server.stop()
