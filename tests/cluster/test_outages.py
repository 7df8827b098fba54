"""Live delivery through a Redis or PostgreSQL outage, under steady load.

Two instances, four paced senders on each (160 msg/s in all) and a watcher on each.
Redis is stopped (SIGTERM, SIGKILL) or stalled (SIGSTOP: every socket stays open,
nothing answers) for five seconds, then answers again. Throughout, a watcher gets
the messages sent on its own instance at once; within 3 s of Redis answering again
it has every acked message, in one gap-free order. A PostgreSQL outage refuses
sends (`unavailable`, nothing acked) and chat goes on at full speed once it is back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import pytest
import trio

from tests.cluster.conftest import Cluster
from tests.helpers.client import Ws, http, ws_connect
from tests.helpers.process import TrichatProcess

log = logging.getLogger(__name__)

RATE = 20.0  # messages a second per sender
SENDERS = 4  # per instance
WARM, OUTAGE, AFTER = 2.0, 5.0, 3.0  # seconds of load before, during and after
LOCAL_WITHIN = 1.0  # seconds from ack to a same-instance watcher, throughout
CATCH_UP_WITHIN = 3.0  # seconds after the dependency answers again
HEALTH_WITHIN = 1.0  # seconds /health may take to answer, whatever is down
REFUSED_WITHIN = 5.0  # seconds a send may wait for `unavailable` from a stalled store
SUSTAINED = 0.85  # share of the offered rate that must be acked where it is due


@dataclass
class Ledger:
    acked: dict[str, tuple[int, float, int]] = field(default_factory=dict)  # seq, when, node
    refused: int = 0
    slowest_refusal: float = 0.0
    fault_at: float = 0.0  # when the dependency went away
    health: list[tuple[int, dict[str, object], float]] = field(default_factory=list)
    back_at: float = 0.0  # when the dependency answered again
    ended_at: float = 0.0  # when the senders stopped
    seen: list[dict[str, tuple[int, float]]] = field(default_factory=list)  # per watcher
    changed: trio.Event = field(default_factory=trio.Event)

    def saw(self) -> None:
        self.changed.set()
        self.changed = trio.Event()


async def sender(
    ws: Ws, channel: str, name: str, node: int, ledger: Ledger, stop: trio.Event
) -> None:
    """Offer RATE messages a second; a refused one is retried with the same id."""
    k, due = 0, trio.current_time()
    while not stop.is_set():
        mid = f"{name}-{k}"
        sent_at = trio.current_time()
        await ws.send(type="message", channel_id=channel, content=mid, message_id=mid)
        reply = await ws.expect_any(("ack", "error"), message_id=mid)
        if reply["type"] == "ack":
            ledger.acked[mid] = (reply["seq"], trio.current_time(), node)
            k += 1
        else:
            assert reply["code"] == "unavailable", reply
            ledger.refused += 1
            ledger.slowest_refusal = max(ledger.slowest_refusal, trio.current_time() - sent_at)
        due += 1 / RATE
        await trio.sleep_until(due)  # the offered rate (load shape, not synchronization)


async def watcher(ws: Ws, ledger: Ledger, seen: dict[str, tuple[int, float]]) -> None:
    seqs: list[int] = []
    while True:
        frame = await ws.recv()
        if frame["type"] == "message":
            assert frame["message_id"] not in seen, f"duplicate: {frame}"
            assert not seqs or frame["seq"] == seqs[-1] + 1, f"gap or reorder: {seqs[-1]} → {frame}"
            seqs.append(frame["seq"])
            seen[frame["message_id"]] = (frame["seq"], trio.current_time())
            ledger.saw()


async def wait_all_seen(ledger: Ledger, within: float) -> None:
    with trio.move_on_after(within):
        while any(set(ledger.acked) - set(seen) for seen in ledger.seen):
            await ledger.changed.wait()


def assert_sustained(ledger: Ledger, start: float, end: float, senders: int) -> None:
    """Acks between `start` and `end` came at (nearly) the offered rate."""
    acks = sum(1 for _, at, _ in ledger.acked.values() if start <= at < end)
    offered = RATE * senders * (end - start)
    assert acks >= SUSTAINED * offered, f"held up: {acks} acks of {offered:.0f} offered"


def check(ledger: Ledger, back_at: float, local_only_until: float) -> float:
    """Assert the delivery bounds; return the slowest catch-up after `back_at`."""
    slowest = 0.0
    for node, seen in enumerate(ledger.seen):
        missing = sorted(set(ledger.acked) - set(seen))
        last = max((seq for seq, _ in seen.values()), default=0)
        where = [
            (m, ledger.acked[m][0], round(ledger.acked[m][1] - ledger.ended_at, 2)) for m in missing
        ]
        assert not missing, f"watcher {node} (last seq {last}) never got {where[:5]}"
        for mid, (seq, acked_at, sent_on) in ledger.acked.items():
            got_seq, got_at = seen[mid]
            assert got_seq == seq
            if sent_on == node:
                assert got_at - acked_at <= LOCAL_WITHIN, (mid, got_at - acked_at)
            else:
                due = max(acked_at, back_at)
                slowest = max(slowest, got_at - due)
                if acked_at < local_only_until:
                    assert got_at - due <= CATCH_UP_WITHIN, (mid, got_at - due)
    return slowest


async def run_outage(
    cluster: Cluster, fault: Callable[[], None], recover: Callable[[], None]
) -> tuple[Ledger, float]:
    nodes = await cluster.start(2)
    general = nodes[0].general
    ledger = Ledger(seen=[{} for _ in nodes])
    stop = trio.Event()
    async with AsyncExitStack() as stack:
        watchers = [await connect(stack, node, f"watcher{i}") for i, node in enumerate(nodes)]
        senders = [
            (i, f"s{i}{j}", await connect(stack, node, f"s{i}{j}"))
            for i, node in enumerate(nodes)
            for j in range(SENDERS)
        ]
        for ws in [*watchers, *(ws for _, _, ws in senders)]:
            await ws.join(general)
        async with trio.open_nursery() as nursery:
            for i, ws in enumerate(watchers):
                nursery.start_soon(watcher, ws, ledger, ledger.seen[i])
            async with trio.open_nursery() as sending:  # done: every ack is recorded
                for i, name, ws in senders:
                    sending.start_soon(sender, ws, general, name, i, ledger, stop)
                await _timeline(ledger, stop, fault, recover, nodes)
            await wait_all_seen(ledger, CATCH_UP_WITHIN + 2)
            nursery.cancel_scope.cancel()
    slowest = check(ledger, ledger.back_at, ledger.ended_at)
    log.warning("catch-up after recovery: %.2f s; %d acked", slowest, len(ledger.acked))
    return ledger, slowest


async def _timeline(
    ledger: Ledger,
    stop: trio.Event,
    fault: Callable[[], None],
    recover: Callable[[], None],
    nodes: list[TrichatProcess],
) -> None:
    """Load, the fault (each node's /health asked near its end), recovery, load;
    then tell the senders to stop."""
    await trio.sleep(WARM)
    ledger.fault_at = trio.current_time()
    await trio.to_thread.run_sync(fault)
    await trio.sleep(OUTAGE - HEALTH_WITHIN)
    for node in nodes:
        asked = trio.current_time()
        answer = await http(node.port, "GET", "/api/v1/chat/health")
        ledger.health.append((answer.status, answer.json(), trio.current_time() - asked))
    await trio.sleep_until(ledger.fault_at + OUTAGE)
    await trio.to_thread.run_sync(recover)
    ledger.back_at = trio.current_time()
    await trio.sleep(AFTER)
    stop.set()
    ledger.ended_at = trio.current_time()


async def connect(stack: AsyncExitStack, node: TrichatProcess, user: str) -> Ws:
    return await stack.enter_async_context(ws_connect(node.ws_url(user)))


@pytest.mark.parametrize("how", ["sigterm", "sigkill", "sigstop"])
async def test_redis_outage_keeps_local_delivery_and_heals_within_3_s(
    cluster: Cluster, how: str
) -> None:
    redis = cluster.redis
    fault = {"sigterm": redis.terminate, "sigkill": redis.stop, "sigstop": redis.pause}[how]
    recover = redis.resume if how == "sigstop" else redis.start
    ledger, _ = await run_outage(cluster, fault, recover)
    assert ledger.refused == 0  # Redis is not needed to store and ack
    for status, health, took in ledger.health:
        assert (status, health["status"], health["broker"]) == (200, "degraded", "down")
        assert took <= HEALTH_WITHIN
    assert_sustained(ledger, ledger.fault_at, ledger.back_at, 2 * SENDERS)


@pytest.mark.parametrize("how", ["stop", "sigstop"])
async def test_postgres_outage_refuses_then_chat_resumes_at_once(
    cluster: Cluster, how: str
) -> None:
    pg = cluster.pg
    fault = {"stop": pg.stop, "sigstop": pg.pause}[how]
    recover = {"stop": pg.start, "sigstop": pg.resume}[how]
    ledger, _ = await run_outage(cluster, fault, recover)
    assert ledger.refused > 0  # sends were refused while it was away, not held
    assert ledger.slowest_refusal <= REFUSED_WITHIN
    for status, health, took in ledger.health:
        assert (status, health["store"]) == (503, "down") and took <= HEALTH_WITHIN
    # full rate from a second after it answers: the prober's ping in flight must
    # complete first (it may be waiting out the cancellation of a stalled one)
    assert_sustained(ledger, ledger.back_at + 1.0, ledger.ended_at, 2 * SENDERS)
