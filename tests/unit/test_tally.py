"""The message path's tallies expose exactly what prometheus-client's own counters
and histograms would, for the same increments and observations."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from trichat.tally import CounterVec, TallyCollector, Timings

BOUNDS = (0.001, 0.01, 0.1)


def _lines(registry: CollectorRegistry) -> list[str]:
    text = generate_latest(registry).decode()
    # creation times differ between the two: compare everything else
    return sorted(line for line in text.splitlines() if "_created" not in line)


def test_counters_and_histograms_match_prometheus_client() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    counter = Counter("frames_total", "frames", ["type"], registry=theirs)
    histogram = Histogram("wait_seconds", "waits", buckets=BOUNDS, registry=theirs)
    frames = CounterVec("frames", "frames", "type", ("a", "b"))
    waits = Timings("wait_seconds", "waits", BOUNDS)
    ours.register(TallyCollector(frames, waits))
    counter.labels("a")
    counter.labels("b").inc(3)
    frames.children["b"].inc(3)
    # below, on, between and above the bounds (a value on a bound is in its bucket)
    for value in (0.0, 0.001, 0.005, 0.01, 0.5, 7.0):
        histogram.observe(value)
        waits.observe(value)
    assert _lines(ours) == _lines(theirs)


def test_created_is_exposed_for_every_series() -> None:
    registry = CollectorRegistry()
    registry.register(TallyCollector(CounterVec("f", "f", "t", ("x",)), Timings("w", "w", BOUNDS)))
    assert registry.get_sample_value("f_created", {"t": "x"}) == pytest.approx(
        registry.get_sample_value("w_created"), abs=5
    )
    assert registry.get_sample_value("w_count") == 0
