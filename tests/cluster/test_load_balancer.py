"""The compose topology with local processes: HAProxy (deploy/haproxy.cfg, the file
compose.yaml mounts) in front of two trichat instances on Redis and PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path

import trio
from trio_websocket import ConnectionClosed, ConnectionRejected

from tests.cluster.conftest import Cluster
from tests.helpers.client import Ws, http, poll_health, ws_connect
from tests.helpers.ports import free_port
from tests.helpers.process import TrichatProcess

CONFIG = Path(__file__).parents[2] / "deploy" / "haproxy.cfg"


@contextmanager
def haproxy(log: Path, *nodes: TrichatProcess) -> Iterator[int]:
    port = free_port()
    env = {**os.environ, "LB_BIND": f"127.0.0.1:{port}"}
    for i, node in enumerate(nodes, 1):
        env[f"TRICHAT{i}"] = f"127.0.0.1:{node.port}"
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    with log.open("w") as out:
        proc = subprocess.Popen([binary, "-db", "-f", str(CONFIG)], env=env, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def instances_behind(port: int, want: set[str]) -> None:
    """Wait until the balancer has routed health checks to every instance in `want`."""
    seen: set[str] = set()

    def collect(health: dict[str, object]) -> bool:
        seen.add(str(health["instance"]))
        return want <= seen

    await poll_health(port, collect, within=20)


async def test_clients_spread_chat_and_fail_over_through_the_balancer(cluster: Cluster) -> None:
    a, b = await cluster.start(2)
    general = a.general
    with haproxy(cluster.root / "haproxy.log", a, b) as lb:
        await instances_behind(lb, {"node0", "node1"})
        url = f"ws://127.0.0.1:{lb}/ws?token="
        async with AsyncExitStack() as stack:
            users = ["u0", "u1", "u2", "u3"]
            clients: dict[str, Ws] = {}
            for user in users:  # leastconn: the four spread over both instances
                clients[user] = await stack.enter_async_context(ws_connect(url + a.token(user)))
                await clients[user].join(general)
            counts = [
                (await http(node.port, "GET", "/api/v1/chat/health")).json()["connections"]
                for node in (a, b)
            ]
            assert counts == [2, 2]
            first = await clients["u0"].say(general, "through the balancer")
            for ws in clients.values():
                assert (await ws.expect("message", seq=first["seq"]))["content"] == (
                    "through the balancer"
                )

            # node0 dies; its clients come back through the balancer to node1
            await trio.to_thread.run_sync(a.kill)
            survivors, orphans = [], []
            for user, ws in clients.items():
                try:
                    await ws.send(type="typing", channel_id=general)
                    await ws.say(general, f"{user} still here")
                    survivors.append(user)
                except ConnectionClosed:
                    orphans.append(user)
            assert len(orphans) == 2 and len(survivors) == 2
            missed = await clients[survivors[0]].say(general, "while you were away")
            for user in orphans:
                deadline = trio.current_time() + 20
                while True:  # the first tries may still reach node0, until checks drop it
                    try:
                        again = await stack.enter_async_context(ws_connect(url + a.token(user)))
                        break
                    except (OSError, ConnectionClosed, ConnectionRejected):
                        assert trio.current_time() < deadline, "no instance took the client"
                        await trio.sleep(0.2)
                await again.join(general, since=first["seq"])
                got = await again.expect("message", seq=missed["seq"])
                assert got["content"] == "while you were away"
