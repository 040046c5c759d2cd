"""Memory and CPU of the stack's processes (each with its children), sampled by role."""

from __future__ import annotations

import time

import psutil

from bench.stack import Stack

MIB = 1024 * 1024


def roles(stack: Stack) -> dict[str, int]:
    """Role -> pid: the API, each chat worker, the memory worker, Temporal, Valkey, and this client."""
    pids = {'api': stack.pids['api'], 'memory worker': stack.pids['memory worker']}
    for index, worker in enumerate(stack.workers.chat):
        pids['chat worker' if index == 0 else f'chat worker {index + 1}'] = worker.pid
    pids['temporal'] = stack.pids['temporal']
    # Valkey is started by the bench process itself: find it among its children.
    for child in psutil.Process().children():
        if 'valkey' in child.name():
            pids['valkey'] = child.pid
    return pids


def _tree(pid: int, children: bool) -> list[psutil.Process]:
    process = psutil.Process(pid)
    return [process, *process.children(recursive=True)] if children else [process]


def rss_mib(pid: int, children: bool = True) -> float:
    total = 0
    for process in _tree(pid, children):
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return round(total / MIB, 1)


def cpu_seconds(pid: int, children: bool = True) -> float:
    total = 0.0
    for process in _tree(pid, children):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


class Sampler:
    """RSS per role at each `sample()`, and each role's CPU share (% of one core) since the previous one."""

    def __init__(self, stack: Stack) -> None:
        self.pids = roles(stack)
        # The client is the bench process alone: the stack's processes are its children.
        self.pids['bench client'] = psutil.Process().pid
        self.samples: list[dict[str, object]] = []
        self._started = time.monotonic()
        self._last = (self._started, self._cpu())
        self._machine = psutil.cpu_times()  # own baseline: psutil's cpu_percent() state is per thread

    def _cpu(self) -> dict[str, float]:
        return {role: cpu_seconds(pid, role != 'bench client') for role, pid in self.pids.items()}

    def _machine_busy(self) -> float:
        before, self._machine = self._machine, psutil.cpu_times()
        total = sum(self._machine) - sum(before)
        idle = (self._machine.idle + self._machine.iowait) - (before.idle + before.iowait)
        return round(100 * (total - idle) / total, 1) if total > 0 else 0.0

    def sample(self) -> dict[str, object]:
        now, cpu = time.monotonic(), self._cpu()
        then, before = self._last
        self._last = (now, cpu)
        elapsed = max(now - then, 1e-6)
        entry = {
            'minute': round((now - self._started) / 60, 2),
            'rss_mib': {role: rss_mib(pid, role != 'bench client') for role, pid in self.pids.items()},
            'cpu_percent': {role: round(100 * (cpu[role] - before[role]) / elapsed, 1) for role in cpu},
            # The machine is shared: all its processes (others' too), in % of all cores.
            'machine_cpu_percent_of_all_cores': self._machine_busy(),
            'load_average_1m': round(psutil.getloadavg()[0], 2),
        }
        self.samples.append(entry)
        return entry


def slope_mib_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (minute, MiB)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    if var == 0:
        return 0.0
    return round(sum((x - mean_x) * (y - mean_y) for x, y in points) / var, 2)
