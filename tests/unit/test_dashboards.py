"""docs/grafana-dashboard.json and docs/prometheus-alerts.yml parse, and every
metric they reference is one trichat exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from trichat.metrics import MESSAGE_TYPES, Metrics

DOCS = Path(__file__).parents[2] / "docs"
_NAME = re.compile(r"\b((?:websocket|trichat)_[a-z_]+)\b")


def exported_samples() -> set[str]:
    metrics = Metrics()
    metrics.latency.observe(0.01)
    metrics.broadcast_duration.observe(0.001)
    metrics.store_batch.observe(3)
    text = metrics.render().decode()
    return {s.name for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_dashboard_references_only_real_metrics() -> None:
    dash = json.loads((DOCS / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert len(exprs) >= 12
    names = {n for e in exprs for n in _NAME.findall(e)}
    assert names - exported_samples() == set()
    for required in (
        "websocket_connections_current",
        "websocket_rate_limit_hits_total",
        "websocket_errors_total",
        "trichat_broker_up",
        "trichat_store_up",
    ):
        assert required in names
    assert any("websocket_message_latency_seconds_bucket" in e for e in exprs)


def test_alerts_parse_and_reference_only_real_metrics() -> None:
    rules = yaml.safe_load((DOCS / "prometheus-alerts.yml").read_text())
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    assert {
        "TrichatConnectionsNearCapacity",
        "TrichatDeliveryLatencyHigh",
        "TrichatErrorRateHigh",
        "TrichatRateLimitHitsHigh",
    } <= set(alerts)
    assert "0.05" in alerts["TrichatDeliveryLatencyHigh"]["expr"]
    names = {n for r in alerts.values() for n in _NAME.findall(r["expr"])}
    assert names - exported_samples() == set()
    for rule in alerts.values():
        assert rule["for"] and rule["labels"]["severity"] and rule["annotations"]["summary"]


SERVER_SENT = {"ack", "delivery"}  # frames trichat sends; every other type a client sends
_TYPE_MATCHER = re.compile(r'websocket_messages_total\{type(=~|!~|=|!=)"([^"]*)"\}')


def counted_types(expr: str) -> set[str]:
    """The `type` values of websocket_messages_total an expression sums over."""
    op, value = _TYPE_MATCHER.search(expr).groups()  # type: ignore[union-attr]
    match = {
        "=": lambda t: t == value,
        "!=": lambda t: t != value,
        "=~": lambda t: re.fullmatch(value, t) is not None,
        "!~": lambda t: re.fullmatch(value, t) is None,
    }[op]
    return {t for t in MESSAGE_TYPES if match(t)}


def test_frames_in_counts_client_frames_only() -> None:
    dash = json.loads((DOCS / "grafana-dashboard.json").read_text())
    panel = next(p for p in dash["panels"] if p["title"].startswith("Frames in"))
    assert counted_types(panel["targets"][0]["expr"]) == set(MESSAGE_TYPES) - SERVER_SENT
    rules = yaml.safe_load((DOCS / "prometheus-alerts.yml").read_text())
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    per_frame = alerts["TrichatErrorRateHigh"]["expr"]  # errors per client frame
    assert counted_types(per_frame) == set(MESSAGE_TYPES) - SERVER_SENT
