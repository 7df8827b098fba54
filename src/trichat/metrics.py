"""Prometheus metrics (SPEC §5). One registry per server, so several servers can
live in one process (tests). Label values are fixed sets: never a channel id or
anything a user typed."""

from __future__ import annotations

import platform
from collections.abc import Callable

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)

from trichat import __version__
from trichat.tally import CounterVec, TallyCollector, Timings

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
MESSAGE_TYPES = (
    "join",
    "leave",
    "message",
    "edit",
    "delete",
    "react",
    "unreact",
    "typing",
    "read",
    "refresh",
    "ack",
    "delivery",
    "invalid",
)
ERROR_TYPES = (
    "bad_request",
    "not_found",
    "forbidden",
    "channel_full",
    "not_joined",
    "rate_limited",
    "too_long",
    "unauthorized",
    "unavailable",
    "too_many_reactions",
    "handshake",
    "slow_consumer",
    "write_timeout",
    "pong_timeout",
    "frame_too_big",
    "binary_frame",
    "protocol_error",
    "internal",
)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self._refreshers: list[Callable[[], None]] = []
        self.connections_total = Counter(
            "websocket_connections_total", "WebSocket connections accepted", registry=r
        )
        self.connections_current = Gauge(
            "websocket_connections_current", "WebSocket connections open now", registry=r
        )
        # the message path's series are tallies: plain numbers (`tally`), not
        # prometheus-client's locked counters
        self.messages = CounterVec(
            "websocket_messages", "WebSocket frames handled, by type", "type", MESSAGE_TYPES
        )
        self.latency = Timings(
            "websocket_message_latency_seconds",
            "Time from the store's ack of a message to its fan-out to local members",
            _LATENCY_BUCKETS,
        )
        self.errors = CounterVec("websocket_errors", "Errors, by type", "type", ERROR_TYPES)
        self.channels_active = Gauge(
            "websocket_channels_active", "Channels with members on this instance", registry=r
        )
        self.rate_limit_hits = Counter(
            "websocket_rate_limit_hits_total", "Messages refused by the rate limit", registry=r
        )
        self.broadcast_duration = Timings(
            "websocket_broadcast_duration_seconds",
            "Time to hand one frame to every local member of a channel",
            (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1),
        )
        tallies = (self.messages, self.latency, self.errors, self.broadcast_duration)
        r.register(TallyCollector(*tallies))
        self._internals(r)
        self._runtime(r)
        # every child exists from the start: the series are there before any frame
        self.msg = self.messages.children
        self.err = self.errors.children

    def _internals(self, r: CollectorRegistry) -> None:
        """trichat's own series: HTTP connections, dependencies, queues, the store,
        gap fills."""
        self.http_connections = Gauge(
            "trichat_http_connections_current", "HTTP connections open now", registry=r
        )
        self.broker_up = Gauge("trichat_broker_up", "1 when the broker answers", registry=r)
        self.store_up = Gauge("trichat_store_up", "1 when the store answers", registry=r)
        self.queue_depth = Gauge(
            "trichat_queue_depth",
            "Items waiting in internal queues, by queue",
            ["queue"],
            registry=r,
        )
        self.store_batch = Histogram(
            "trichat_store_commit_batch_size",
            "Writes committed per store transaction (group commit)",
            buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500),
            registry=r,
        )
        self.gap_fills = Counter(
            "trichat_gap_fills_total",
            "Store reads by channel supervisors, by cause: a seq gap held past GAP_HOLD, "
            "or a resync (full inbox, broker outage, tail behind the store)",
            ["cause"],
            registry=r,
        )
        self.fill = {c: self.gap_fills.labels(c) for c in ("gap", "resync")}
        for name in ("reorder_held", "outbox", "store_writes"):
            self.queue_depth.labels(name)
        self.broker_up.set(1)
        self.store_up.set(1)

    def _runtime(self, r: CollectorRegistry) -> None:
        """The process (`process_*`: CPU, memory, open files), the interpreter
        (`python_*`: version, garbage collector) and `trichat_build_info{version} 1`.
        The collectors read process-wide state, so every registry may hold them."""
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            r.register(collector)
        Info("trichat_build", "The running trichat's version", registry=r).info(
            {"version": __version__, "python": platform.python_version()}
        )

    def on_scrape(self, refresh: Callable[[], None]) -> None:
        """Call `refresh` (on the trio thread) before each scrape: for gauges that
        are costly to keep current all the time."""
        self._refreshers.append(refresh)

    def refresh(self) -> None:
        """The scrape is about to render: bring the `on_scrape` gauges up to date."""
        for refresh in self._refreshers:
            refresh()

    def render(self) -> bytes:
        """Synchronous; call it off the event loop (`trio.to_thread`)."""
        return generate_latest(self.registry)
