"""Percentiles over latency samples, in milliseconds."""

from __future__ import annotations

import statistics


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summary(samples_seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples_seconds]
    return {
        'n': len(ms),
        'p50_ms': round(percentile(ms, 0.5), 1),
        'p95_ms': round(percentile(ms, 0.95), 1),
        'mean_ms': round(statistics.fmean(ms), 1),
    }
