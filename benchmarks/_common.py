"""Helpers shared by the benchmark scripts (run from the repository root)."""

from __future__ import annotations

import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def describe_ms(values: list[float]) -> str:
    return (
        f"median {statistics.median(values) * 1000:7.3f} ms   "
        f"p99 {percentile(values, 0.99) * 1000:7.3f} ms   (n={len(values)})"
    )
