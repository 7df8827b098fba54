"""/metrics carries the process and interpreter collectors and a build-info series,
in every registry (several servers may share one process: tests)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from trichat import __version__
from trichat.metrics import Metrics


def samples(metrics: Metrics) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(metrics.render().decode()):
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def test_process_python_and_build_info_in_every_registry() -> None:
    for metrics in (Metrics(), Metrics()):
        found = samples(metrics)
        for name in (
            "process_resident_memory_bytes",
            "process_cpu_seconds_total",
            "process_open_fds",
            "process_start_time_seconds",
            "python_info",
            "python_gc_collections_total",
        ):
            assert name in found, name
        [(labels, value)] = found["trichat_build_info"]
        assert labels["version"] == __version__ and value == 1
