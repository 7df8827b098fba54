"""One load-generating process: its share of the clients, in one trio run.

Talks to the coordinating process over a pipe: ("ready", …) once every client has
joined, then waits for ("start", t0); sends on a fixed schedule for the duration,
reports ("progress", …) every second, drains, reports ("done", stats) and closes
its clients on ("close",).
"""

from __future__ import annotations

import gc
import random
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import orjson
import trio

from trichat.bench.histogram import Histogram
from trichat.bench.procstat import own_cpu_seconds
from trichat.bench.wsclient import TEXT, BenchSocket, HandshakeFailed

_MESSAGE = b'"type":"message"'
_CONTENT = b'"content":"'
_REACTION = b'"type":"reaction_'
_ADDED = b"reaction_a"
_EMOJI = b'"emoji":"'


@dataclass(frozen=True)
class ClientSpec:
    token: str
    channel_id: str
    sender: bool
    server: int = 0  # index into WorkerSpec.servers


@dataclass(frozen=True)
class WorkerSpec:
    servers: list[tuple[str, int, str]]  # host, port, WebSocket path (e.g. /ws)
    clients: list[ClientSpec]
    send_interval: float  # seconds between one sender's messages
    duration: float
    drain: float
    connect_concurrency: int = 100
    react: bool = False  # react/unreact on seq 1 (the token's "emoji" is its send time)


@dataclass
class Tally:
    """What this process saw; merged over processes by the coordinator."""

    connected: int = 0
    connect_errors: int = 0
    first_error: str = ""
    disconnects: int = 0
    sent: int = 0
    send_errors: int = 0
    acked: dict[str, int] = field(default_factory=dict)  # per channel
    errors: dict[str, int] = field(default_factory=dict)  # error frames by code
    members: dict[str, int] = field(default_factory=dict)  # connected, per channel
    received: int = 0
    closing: bool = False
    max_send_lag_ms: float = 0.0
    histogram: Histogram = field(default_factory=Histogram)


class Client:
    def __init__(self, spec: ClientSpec, tally: Tally) -> None:
        self.spec = spec
        self.tally = tally
        self.sock: BenchSocket | None = None
        self.joined = trio.Event()
        self.join_error = ""
        self.start_us = 0  # only messages sent after this count (none before the run)

    async def read(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        assert self.sock is not None
        tally = self.tally
        task_status.started()
        try:
            async for opcode, payload in self.sock.frames():
                if opcode != TEXT:
                    continue
                head = payload[:24]
                if _MESSAGE in head:
                    self._timed(payload, _CONTENT, b" ")
                elif _REACTION in head:  # timed when added; a removal only counts
                    self._timed(payload, _EMOJI, b"r", timed=_ADDED in head)
                else:
                    self._other(orjson.loads(payload))
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass  # the connection is gone: counted just below, unless we closed it
        if self.joined.is_set() and not tally.closing:
            tally.disconnects += 1

    def _timed(self, payload: bytes, field: bytes, stop: bytes, timed: bool = True) -> None:
        """A delivery whose `field` starts with its send time (µs): count it, and
        with `timed` record its latency."""
        at = payload.find(field)
        if at < 0:
            return
        at += len(field)
        end = payload.find(stop, at, at + 20)
        if end < 0 or not payload[at:end].isdigit():
            return
        sent_us = int(payload[at:end])
        if sent_us >= self.start_us > 0:
            self.tally.received += 1
            if timed:
                self.tally.histogram.record(time.time_ns() // 1000 - sent_us)

    def _other(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "ack":
            channel = frame.get("channel_id", "")
            self.tally.acked[channel] = self.tally.acked.get(channel, 0) + 1
        elif kind == "joined":
            self.joined.set()
        elif kind == "error":
            code = str(frame.get("code"))
            if not self.joined.is_set():
                self.join_error = f"join refused: {code}: {frame.get('error')}"
                self.joined.set()
            self.tally.errors[code] = self.tally.errors.get(code, 0) + 1


async def _connect(spec: WorkerSpec, client: Client, nursery: trio.Nursery) -> None:
    tally = client.tally
    try:
        host, port, path = spec.servers[client.spec.server]
        target = f"{path}?token={client.spec.token}"
        with trio.fail_after(30):
            client.sock = await BenchSocket.connect(host, port, target)
            await nursery.start(client.read)
            join = {"type": "join", "channel_id": client.spec.channel_id}
            await client.sock.send(TEXT, orjson.dumps(join))
            await client.joined.wait()
        if client.join_error:
            raise HandshakeFailed(client.join_error)
    except (OSError, HandshakeFailed, trio.TooSlowError, trio.BrokenResourceError) as exc:
        tally.connect_errors += 1
        tally.first_error = tally.first_error or f"{type(exc).__name__}: {exc}"
        client.joined = trio.Event()  # a later disconnect is not counted
        return
    tally.connected += 1
    channel = client.spec.channel_id
    tally.members[channel] = tally.members.get(channel, 0) + 1


async def _send(spec: WorkerSpec, client: Client, t0: float, offset: float) -> None:
    assert client.sock is not None
    tally = client.tally
    channel = client.spec.channel_id.encode()
    n = 0
    held: list[bytes] = []  # react mode: the token this sender holds, to take back
    while True:
        due = t0 + offset + n * spec.send_interval
        if due >= t0 + spec.duration:
            return
        await trio.sleep(max(0.0, due - time.time()))
        lag = (time.time() - due) * 1000
        tally.max_send_lag_ms = max(tally.max_send_lag_ms, lag)
        frame = _frame(spec, channel, n, held)
        try:
            await client.sock.send(TEXT, frame)
            tally.sent += 1
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            tally.send_errors += 1
            return
        n += 1


def _frame(spec: WorkerSpec, channel: bytes, n: int, held: list[bytes]) -> bytes:
    """The next frame a sender sends: a message whose content starts with its send
    time, or (react mode) a reaction whose token is, then that reaction taken back."""
    now_us = time.time_ns() // 1000
    if not spec.react:
        content = b"%d bench %d" % (now_us, n)
        return b'{"type":"message","channel_id":"%s","content":"%s"}' % (channel, content)
    if held:  # take back the reaction this sender holds (its token: the react's time)
        token, kind = held.pop(), b"unreact"
    else:
        token, kind = b"%dr" % now_us, b"react"
        held.append(token)
    return b'{"type":"%s","channel_id":"%s","target_seq":1,"emoji":"%s"}' % (kind, channel, token)


async def _main(spec: WorkerSpec, pipe: Connection) -> None:
    tally = Tally()
    clients = [Client(c, tally) for c in spec.clients]
    async with trio.open_nursery() as readers:
        limit = trio.Semaphore(spec.connect_concurrency)

        async def connect(client: Client) -> None:
            async with limit:
                await _connect(spec, client, readers)

        async with trio.open_nursery() as connecting:
            for client in clients:
                connecting.start_soon(connect, client)
        pipe.send(("ready", tally.connected, tally.connect_errors, tally.first_error))
        _quiet_gc()
        message = await trio.to_thread.run_sync(pipe.recv)
        t0 = float(message[1])
        for client in clients:
            client.start_us = int(t0 * 1_000_000)
        cpu_before = own_cpu_seconds()
        async with trio.open_nursery() as sending:
            sending.start_soon(_progress, pipe, tally, t0 + spec.duration + spec.drain)
            for client in clients:
                if client.spec.sender and client.sock is not None:
                    offset = random.uniform(0, spec.send_interval)
                    sending.start_soon(_send, spec, client, t0, offset)
            await trio.sleep_until(_trio_time(t0 + spec.duration))
            await _drain(spec, tally)
            sending.cancel_scope.cancel()
        cpu = own_cpu_seconds() - cpu_before
        elapsed = max(1e-9, time.time() - t0)
        pipe.send(("done", _report(tally, cpu, elapsed)))
        gc.enable()
        await trio.to_thread.run_sync(pipe.recv)  # ("close",): the coordinator has measured
        tally.closing = True
        async with trio.open_nursery() as closing:
            for client in clients:
                if client.sock is not None:
                    closing.start_soon(client.sock.aclose)
        readers.cancel_scope.cancel()


def _quiet_gc() -> None:
    """The generator's own garbage collector must not show up as server latency: a
    full collection over thousands of connections stops this process for hundreds of
    ms. Everything alive now lives until the end, so it is frozen out of the
    collector, which stays off while measuring (a run allocates little that cycles)."""
    gc.collect()
    gc.freeze()
    gc.disable()


def _trio_time(wall: float) -> float:
    return trio.current_time() + (wall - time.time())


async def _drain(spec: WorkerSpec, tally: Tally) -> None:
    """Wait for deliveries to stop (1 s without one) or the drain time to pass."""
    deadline = trio.current_time() + spec.drain
    last, quiet_since = -1, trio.current_time()
    while trio.current_time() < deadline:
        if tally.received != last:
            last, quiet_since = tally.received, trio.current_time()
        elif trio.current_time() - quiet_since >= 1.0:
            acked = sum(tally.acked.values()) + sum(tally.errors.values())
            if acked >= tally.sent:
                return
        await trio.sleep(0.1)


async def _progress(pipe: Connection, tally: Tally, until: float) -> None:
    while time.time() < until:
        await trio.sleep(1.0)
        pipe.send(("progress", tally.sent, tally.received))


def _report(tally: Tally, cpu: float, elapsed: float) -> dict[str, Any]:
    return {
        "connected": tally.connected,
        "connect_errors": tally.connect_errors,
        "first_error": tally.first_error,
        "disconnects": tally.disconnects,
        "sent": tally.sent,
        "send_errors": tally.send_errors,
        "acked": tally.acked,
        "errors": tally.errors,
        "members": tally.members,
        "received": tally.received,
        "max_send_lag_ms": tally.max_send_lag_ms,
        "histogram": tally.histogram.to_wire(),
        "cpu_seconds": cpu,
        "elapsed": elapsed,
    }


def run_worker(spec: WorkerSpec, pipe: Connection) -> None:
    """The process entry point (multiprocessing, spawn)."""
    trio.run(_main, spec, pipe)
