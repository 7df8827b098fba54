"""Counters and histograms for the message path: plain numbers on the trio thread,
read by a prometheus collector when `/metrics` is scraped.

prometheus-client takes a lock per increment and walks the buckets in Python per
observation: ~1 µs a counter, ~2 µs a histogram on this VM, and a stored message
touches three counters and two histograms (docs/performance.md, session 11). Here
an increment is one attribute add and an observation one `bisect`. The series and
their exposition (`_total`, `_created`, `_bucket`, `_sum`, `_count`) are the same.
Only the trio thread writes them; a scrape reads them from a worker thread, and a
torn read of a Python int cannot happen (the GIL), so no lock is needed.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString


class Tally:
    """One counter series."""

    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1) -> None:
        self.value += amount


class CounterVec:
    """A counter family with one label and a fixed set of values."""

    def __init__(self, name: str, doc: str, label: str, values: Sequence[str]) -> None:
        self.name, self.doc, self.label = name, doc, label
        self.children = {v: Tally() for v in values}

    def collect(self) -> Metric:
        family = CounterMetricFamily(self.name, self.doc, labels=[self.label])
        for value, child in self.children.items():
            family.add_metric([value], child.value, created=child.created)
        return family


class Timings:
    """One histogram series: counts per bucket (the last is +Inf) and the sum."""

    __slots__ = ("_bounds", "counts", "created", "doc", "name", "sum")

    def __init__(self, name: str, doc: str, bounds: Sequence[float]) -> None:
        self.name, self.doc = name, doc
        self._bounds = tuple(bounds)
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.created = time.time()

    def observe(self, amount: float) -> None:
        # le semantics: a value equal to a bound falls in that bound's bucket
        self.counts[bisect_left(self._bounds, amount)] += 1
        self.sum += amount

    def collect(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.doc)
        cumulative, buckets = 0, []
        for bound, count in zip((*self._bounds, float("inf")), self.counts, strict=True):
            cumulative += count
            buckets.append((floatToGoString(bound), cumulative))
        family.add_metric([], buckets, self.sum)
        family.samples.append(Sample(f"{self.name}_created", {}, self.created))
        return family


class TallyCollector:
    """Exposes the tallies in a prometheus registry."""

    def __init__(self, *parts: CounterVec | Timings) -> None:
        self._parts = parts

    def collect(self) -> Iterator[Metric]:
        for part in self._parts:
            yield part.collect()

    def describe(self) -> Iterator[Metric]:
        return self.collect()
