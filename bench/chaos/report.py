"""The chaos run's tables (faults by kind, invariants held), printed and written to bench/results/."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from statistics import mean

from bench.chaos.checker import INVARIANTS, Verdict
from bench.chaos.faults import Fault
from bench.chaos.stack import KINDS

RESULTS = Path(__file__).resolve().parent.parent / 'results'


def fault_rows(faults: list[Fault]) -> list[dict[str, object]]:
    by_kind: dict[str, list[Fault]] = defaultdict(list)
    for fault in faults:
        by_kind[fault.kind].append(fault)
    return [
        {
            'kind': kind,
            'injected': len(by_kind[kind]),
            'mid_stream': sum(1 for f in by_kind[kind] if f.mid_stream),
            'mean_restart_s': round(mean(f.restart_seconds for f in by_kind[kind]), 2)
            if by_kind[kind]
            else 0,
        }
        for kind in KINDS
    ]


def markdown(
    params: dict[str, object], faults: list[Fault], verdict: Verdict, settle: dict[str, object]
) -> str:
    lines = [f'chaos run: {", ".join(f"{k}={v}" for k, v in params.items())}', '']
    lines += ['| fault (SIGKILL + restart) | injected | while a reply streamed | mean restart s |']
    lines += ['| --- | --- | --- | --- |']
    rows = fault_rows(faults)
    for row in rows:
        lines.append(f'| {row["kind"]} | {row["injected"]} | {row["mid_stream"]} | {row["mean_restart_s"]} |')
    lines.append(f'| **total** | {len(faults)} | {sum(int(str(r["mid_stream"])) for r in rows)} | |')
    lines += ['', '| invariant | checked | held | violated |', '| --- | --- | --- | --- |']
    for name, text in INVARIANTS.items():
        checked, violated = verdict.checked[name], verdict.violated[name]
        lines.append(f'| {text} | {checked} | {checked - violated} | {violated} |')
    lines += ['', '| figure | value |', '| --- | --- |']
    lines += [f'| {name} | {value} |' for name, value in sorted(verdict.figures.items())]
    lines += [f'| {name} | {value} |' for name, value in settle.items()]
    if verdict.details:
        lines += ['', 'violations:'] + [f'- {d}' for d in verdict.details[:50]]
    lines += ['', 'ALL INVARIANTS HELD' if verdict.ok else 'INVARIANTS VIOLATED']
    return '\n'.join(lines)


def write(
    folder: Path, params: dict[str, object], faults: list[Fault], verdict: Verdict, settle: dict[str, object]
) -> str:
    text = markdown(params, faults, verdict, settle)
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        'params': params,
        'faults': [asdict(f) for f in faults],
        'faults_by_kind': fault_rows(faults),
        'invariants': {
            name: {'checked': verdict.checked[name], 'violated': verdict.violated[name]}
            for name in INVARIANTS
        },
        'figures': {**verdict.figures, **settle},
        'violations': verdict.details,
        'ok': verdict.ok,
    }
    (folder / 'chaos.json').write_text(json.dumps(data, indent=2) + '\n')
    (folder / 'chaos.md').write_text(text + '\n')
    return text
