"""The bench's latency histogram: percentiles within 1 %, merging across processes."""

from __future__ import annotations

import pytest

from trichat.bench.histogram import Histogram


def test_percentiles_are_within_one_percent() -> None:
    h = Histogram()
    for micros in range(1, 10_001):  # 1 µs .. 10 ms, uniform
        h.record(micros)
    for p, exact in ((50, 5000), (90, 9000), (99, 9900)):
        assert h.percentile(p) == pytest.approx(exact, rel=0.01)
    assert h.max == 10_000 and h.count == 10_000
    assert h.mean == pytest.approx(5000.5)


def test_merge_equals_one_histogram_of_everything() -> None:
    a, b, both = Histogram(), Histogram(), Histogram()
    for v in (10, 200, 3000):
        a.record(v)
        both.record(v)
    for v in (40_000, 5, 70):
        b.record(v)
        both.record(v)
    merged = Histogram.from_wire(a.to_wire())
    merged.merge(Histogram.from_wire(b.to_wire()))
    assert merged.counts == both.counts and merged.max == 40_000 and merged.count == 6
    assert merged.percentile(100) == both.percentile(100) <= 40_000


def test_empty_and_out_of_range() -> None:
    h = Histogram()
    assert h.percentile(99) == 0.0 and h.mean == 0.0
    h.record(-5)  # a clock step backwards counts as 0
    h.record(10**12)  # beyond 100 s lands in the last bucket
    assert h.count == 2 and h.percentile(100) == 10**12
