"""The coordinator of `trichat bench`: creates the channels, spreads the clients over
worker processes, starts them together, shows progress, and builds the report."""

from __future__ import annotations

import http.client
import multiprocessing
import os
import sys
import time
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any
from urllib.parse import urlsplit

import orjson

from trichat.auth import mint
from trichat.bench import procstat
from trichat.bench.histogram import Histogram
from trichat.bench.worker import ClientSpec, WorkerSpec, run_worker
from trichat.errors import ConfigError

API = "/api/v1/chat"


@dataclass(frozen=True)
class Scenario:
    url: str  # http(s)://host:port or ws://host:port[/ws]
    secret: str
    more_urls: tuple[str, ...] = ()  # other instances of one cluster: members spread
    channels: int = 1
    members: int = 1000  # per channel
    senders: int = 10  # per channel
    rate: float = 20.0  # messages per second, all senders together
    duration: float = 10.0
    drain: float = 5.0
    idle_hold: float = 0.0  # seconds to hold the connections after the run (memory)
    processes: int = 1
    server_pid: int | None = None
    quiet: bool = False
    p99_limit_ms: float = 100.0
    react: bool = False  # senders react/unreact on each channel's first message


class Target:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url if "//" in url else f"http://{url}")
        if parts.scheme not in ("http", "ws") or not parts.hostname:
            raise ConfigError(f"bench: {url!r}: expected http://host:port or ws://host:port")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.ws_path = parts.path if parts.path.endswith("/ws") else "/ws"

    def request(self, method: str, path: str, token: str, body: Any = None) -> Any:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            data = orjson.dumps(body) if body is not None else None
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            payload = response.read()
        except OSError as exc:  # refused, unreachable, reset, timed out
            reason = exc.strerror or type(exc).__name__
            raise ConfigError(
                f"bench: cannot reach the server at {self.host}:{self.port}: {reason} "
                "(is it running, and is this its address?)"
            ) from None
        finally:
            conn.close()
        if response.status == 401:
            raise ConfigError(
                f"bench: the server at {self.host}:{self.port} refused the token (401): "
                "give its secret with --secret (or TRICHAT_JWT_SECRET), or its --data-dir"
            )
        if response.status >= 300:
            reason = _reason(payload)
            raise ConfigError(f"bench: {method} {path}: {response.status} {reason}")
        return orjson.loads(payload)


def _reason(payload: bytes) -> str:
    """An error body as one readable line: its message if it is JSON, else its text."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            body = inner.get("message") or inner.get("detail") or inner.get("code") or inner
        else:
            body = inner
    text = str(body) if body is not None else payload.decode("utf-8", "replace")
    return " ".join(text.split())[:200]


def _say(scenario: Scenario, text: str) -> None:
    if not scenario.quiet:
        print(text, file=sys.stderr, flush=True)


def create_channels(target: Target, scenario: Scenario, run_id: str) -> list[str]:
    """Fresh channels for this run, each created by its own owner (the creation rate
    limit is per user)."""
    ids = []
    for i in range(scenario.channels):
        token = mint(scenario.secret, f"bench-{run_id}-owner{i}", ttl=3600)
        body = {"name": f"bench-{run_id}-{i}", "description": "trichat bench"}
        ids.append(target.request("POST", f"{API}/channels", token, body)["id"])
        if scenario.react:  # the message the senders react to: seq 1
            posted = {"content": "react to me"}
            target.request("POST", f"{API}/channels/{ids[-1]}/messages", token, posted)
    return ids


def plan(
    scenario: Scenario, channel_ids: list[str], run_id: str, targets: list[Target]
) -> list[WorkerSpec]:
    """Clients round-robin over the processes and, independently, over the servers
    (so each channel's members are spread over every instance)."""
    clients: list[list[ClientSpec]] = [[] for _ in range(scenario.processes)]
    k = 0
    ttl = int(scenario.duration + scenario.drain + scenario.idle_hold) + 3600
    for channel_id in channel_ids:
        for m in range(scenario.members):
            token = mint(scenario.secret, f"bench-{run_id}-u{k}", ttl=ttl)
            clients[k % scenario.processes].append(
                ClientSpec(token, channel_id, sender=m < scenario.senders, server=k % len(targets))
            )
            k += 1
    senders = min(scenario.senders, scenario.members) * len(channel_ids)
    interval = senders / scenario.rate if scenario.rate > 0 and senders else scenario.duration
    return [
        WorkerSpec(
            [(t.host, t.port, t.ws_path) for t in targets],
            share,
            send_interval=interval,
            react=scenario.react,
            duration=scenario.duration if senders else 0.0,
            drain=scenario.drain if senders else 0.0,
        )
        for share in clients
    ]


def run(scenario: Scenario) -> dict[str, Any]:
    target = Target(scenario.url)
    run_id = uuid.uuid4().hex[:8]
    pid = scenario.server_pid
    if pid is None and target.host in ("127.0.0.1", "localhost", "::1"):
        pid = procstat.listening_pid(target.port)
    rss_before = procstat.rss_kib(pid) if pid else 0
    _say(scenario, f"creating {scenario.channels} channel(s)…")
    channel_ids = create_channels(target, scenario, run_id)
    targets = [target, *(Target(url) for url in scenario.more_urls)]
    specs = plan(scenario, channel_ids, run_id, targets)
    ctx = multiprocessing.get_context("spawn")
    pipes: list[Connection] = []
    procs = []
    for spec in specs:
        ours, theirs = ctx.Pipe()
        proc = ctx.Process(target=run_worker, args=(spec, theirs), daemon=True)
        proc.start()
        pipes.append(ours)
        procs.append(proc)
    try:
        return _coordinate(scenario, pipes, pid, rss_before)
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()


def _coordinate(
    scenario: Scenario, pipes: list[Connection], pid: int | None, rss_before: int
) -> dict[str, Any]:
    total = scenario.channels * scenario.members
    _say(scenario, f"connecting {total} clients over {len(pipes)} process(es)…")
    started = time.monotonic()
    ready = [p.recv() for p in pipes]
    connect_s = time.monotonic() - started
    connected = sum(r[1] for r in ready)
    errors = [r[3] for r in ready if r[3]]
    _say(scenario, f"{connected}/{total} joined in {connect_s:.1f} s" +
         (f"; first error: {errors[0]}" if errors else ""))  # fmt: skip
    rss_connected = procstat.rss_kib(pid) if pid else 0
    t0 = time.time() + 0.5
    server_cpu_before = procstat.cpu_seconds(pid) if pid else 0.0
    cpu_since = time.time()
    for p in pipes:
        p.send(("start", t0))
    done: dict[int, dict[str, Any]] = {}
    progress = {i: (0, 0) for i in range(len(pipes))}
    last_line = time.monotonic()
    while len(done) < len(pipes):
        for p in wait([p for i, p in enumerate(pipes) if i not in done], timeout=1.0):
            i = pipes.index(p)  # type: ignore[arg-type]
            message = p.recv()  # type: ignore[union-attr]
            if message[0] == "progress":
                progress[i] = (message[1], message[2])
            elif message[0] == "done":
                done[i] = message[1]
                progress[i] = (done[i]["sent"], done[i]["received"])
        if time.monotonic() - last_line >= 1.0:
            last_line = time.monotonic()
            sent = sum(s for s, _ in progress.values())
            received = sum(r for _, r in progress.values())
            elapsed = max(0.0, time.time() - t0)
            _say(scenario, f"  {elapsed:5.1f} s  sent {sent:>8}  delivered {received:>10}")
    server_cpu = (procstat.cpu_seconds(pid) - server_cpu_before) if pid else 0.0
    server_window = time.time() - cpu_since
    if scenario.idle_hold > 0:
        _say(scenario, f"holding the connections {scenario.idle_hold:g} s…")
        time.sleep(scenario.idle_hold)
    rss_end = procstat.rss_kib(pid) if pid else 0
    for p in pipes:
        p.send(("close",))
    report = summarize(scenario, list(done.values()), connect_s, total)
    if pid:
        report["server"] = _server_figures(
            pid, server_cpu / max(1e-9, server_window), report, rss_before, rss_connected, rss_end
        )
    return report


def _server_figures(
    pid: int, load: float, report: dict[str, Any], before: int, connected: int, end: int
) -> dict[str, Any]:
    """`load`: the server's CPU seconds per second from the start to the last report;
    per delivery, at that load over the send window."""
    per_s = report["deliveries_per_s"]
    conns = max(1, report["conns"])
    return {
        "pid": pid,
        "cpu_pct": round(load * 100, 1),
        "cpu_us_per_delivery": round(load / per_s * 1e6, 2) if per_s else None,
        "rss_before_kib": before,
        "rss_connected_kib": connected,
        "rss_end_kib": end,
        "kib_per_conn": round((max(connected, end) - before) / conns, 1),
    }


def _merged(results: list[dict[str, Any]]) -> tuple[Histogram, dict[str, dict[str, int]]]:
    """The workers' latency histograms and their per-key counts, summed."""
    hist = Histogram()
    sums: dict[str, dict[str, int]] = {"acked": {}, "members": {}, "errors": {}}
    for r in results:
        hist.merge(Histogram.from_wire(r["histogram"]))
        for key, into in sums.items():
            for k, v in r[key].items():
                into[k] = into.get(k, 0) + v
    return hist, sums


def _latency(hist: Histogram) -> dict[str, float]:
    latency = {
        name: round(hist.percentile(p) / 1000, 2)
        for name, p in (("p50", 50), ("p90", 90), ("p99", 99), ("p999", 99.9))
    }
    return latency | {"max": round(hist.max / 1000, 2), "mean": round(hist.mean / 1000, 2)}


def summarize(
    scenario: Scenario, results: list[dict[str, Any]], connect_s: float, total: int
) -> dict[str, Any]:
    hist, sums = _merged(results)
    acked, members, errors = sums["acked"], sums["members"], sums["errors"]
    expected = sum(n * members.get(channel, 0) for channel, n in acked.items())
    received = sum(r["received"] for r in results)
    window = max((r["elapsed"] for r in results), default=0.0)
    window = max(window - scenario.drain, scenario.duration) if received else window
    sent = sum(r["sent"] for r in results)
    conns = sum(r["connected"] for r in results)
    latency = _latency(hist)
    gen_cpu = [r["cpu_seconds"] / max(1e-9, r["elapsed"]) * 100 for r in results]
    lost = max(0, expected - received)
    report = {
        "scenario": {
            "channels": scenario.channels,
            "members": scenario.members,
            "senders": scenario.senders,
            "rate": scenario.rate,
            "duration_s": scenario.duration,
            "processes": scenario.processes,
        },
        "conns": conns,
        "connect_errors": sum(r["connect_errors"] for r in results),
        "connect_s": round(connect_s, 2),
        "disconnects": sum(r["disconnects"] for r in results),
        "sent": sent,
        "target_sent": round(scenario.rate * scenario.duration) if scenario.senders else 0,
        "acked": sum(acked.values()),
        "errors": errors,
        "send_errors": sum(r["send_errors"] for r in results),
        "max_send_lag_ms": round(max((r["max_send_lag_ms"] for r in results), default=0), 1),
        "deliveries": {"expected": expected, "received": received, "lost": lost},
        "send_window_s": round(window, 2),
        "deliveries_per_s": round(received / window) if window else 0,
        "latency_ms": latency,
        "generator_cpu_pct": {
            "total": round(sum(gen_cpu), 1),
            "max_process": round(max(gen_cpu, default=0), 1),
        },
    }
    report["pass"] = _passed(report, conns == total, scenario.p99_limit_ms)
    return report


def _passed(report: dict[str, Any], all_connected: bool, p99_limit_ms: float) -> bool:
    return (
        all_connected
        and report["deliveries"]["lost"] == 0
        and not report["errors"]
        and report["send_errors"] == 0
        and report["disconnects"] == 0
        and report["sent"] >= 0.99 * report["target_sent"]
        and report["latency_ms"]["p99"] < p99_limit_ms
    )


def format_report(report: dict[str, Any]) -> str:
    s, d, lat = report["scenario"], report["deliveries"], report["latency_ms"]
    lines = [
        f"scenario     {s['channels']} channel(s) x {s['members']} members, "
        f"{s['senders']} sender(s) each, {s['rate']:g} msg/s for {s['duration_s']:g} s, "
        f"{s['processes']} process(es)",
        f"connections  {report['conns']} joined in {report['connect_s']} s "
        f"({report['connect_errors']} failed, {report['disconnects']} dropped during the run)",
        f"messages     {report['sent']} sent of {report['target_sent']}, {report['acked']} acked"
        + (f", errors {report['errors']}" if report["errors"] else "")
        + f" (worst send lag {report['max_send_lag_ms']} ms)",
        f"deliveries   {d['received']} of {d['expected']} expected, lost {d['lost']}; "
        f"{report['deliveries_per_s']}/s",
        f"latency ms   p50 {lat['p50']}  p90 {lat['p90']}  p99 {lat['p99']}  "
        f"p99.9 {lat['p999']}  max {lat['max']}",
        _generator_line(report["generator_cpu_pct"]),
    ]
    if report.get("server"):
        lines.append(_server_line(report["server"]))
    lines.append("result       " + ("PASS" if report["pass"] else "FAIL") +
                 " (all joined, nothing lost, no errors, p99 under the limit)")  # fmt: skip
    return "\n".join(lines)


def _generator_line(cpu: dict[str, float]) -> str:
    line = f"generator    {cpu['total']} % CPU (busiest process {cpu['max_process']} %"
    if cpu["max_process"] > 85:
        return line + "; near 100 %: the generator may be the bottleneck)"
    return line + ")"


def _server_line(server: dict[str, Any]) -> str:
    per = server["cpu_us_per_delivery"]
    peak = max(server["rss_connected_kib"], server["rss_end_kib"])
    return (
        f"server       pid {server['pid']}: {server['cpu_pct']} % CPU"
        + (f", {per} µs per delivery" if per else "")
        + f"; RSS {server['rss_before_kib']} -> {peak} KiB"
        + f" ({server['kib_per_conn']} KiB per connection)"
    )


def default_processes() -> int:
    return max(1, (os.cpu_count() or 2) - 1)
