"""Where an idle joined connection's memory goes: `serve()` in this process under
tracemalloc, N raw WebSocket clients in a child process that connect, join
`general` and hold. Prints the Python heap per connection, the objects each holds
(gc census) and the allocation sites that keep the most.

    .venv/bin/python bench/conn_memory.py [N] [--sites 25]

RSS per connection (what an operator sees) is `bench/reference.sh s3 N`.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import tracemalloc
from collections import Counter

import trio

from trichat.auth import mint
from trichat.config import Settings
from trichat.server import ServerHandle, serve

SECRET = "conn-memory-conn-memory-conn-memory-secret"
CLIENT = r"""
import base64, json, os, socket, sys
port, n, channel, token = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
held = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws?token={token} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    payload = json.dumps({"type": "join", "channel_id": channel}).encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    s.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
    held.append(s)
print("held", flush=True)
sys.stdin.read()
"""


def objects() -> Counter[str]:
    gc.collect()
    return Counter(type(o).__name__ for o in gc.get_objects())


async def all_joined(handle: ServerHandle, n: int) -> None:
    """Every client's session open and joined (polled: no event says so)."""
    sessions = handle.sessions.open
    joined = 0
    while joined < n:
        await trio.sleep(0.1)  # a benchmark polling: no event says every one has joined
        joined = sum(1 for s in sessions.values() if s.joined)  # type: ignore[attr-defined]
    await trio.sleep(2)  # let the joins' presence writes and announcements settle


async def measure(n: int, sites: int) -> None:
    env = {
        "TRICHAT_DATA_DIR": tempfile.mkdtemp(prefix="trichat-conn-memory-"),
        "TRICHAT_JWT_SECRET": SECRET,
        "TRICHAT_MAX_CONNECTIONS": "100000",
        "TRICHAT_MAX_CONNECTIONS_PER_USER": "100000",
        "TRICHAT_HISTORY_ON_JOIN": "0",
        "TRICHAT_LOG_LEVEL": "warning",
        "PORT": "0",
    }
    async with trio.open_nursery() as nursery:
        handle: ServerHandle = await nursery.start(serve, Settings.from_env(env))
        tracemalloc.start(12)
        before, first = objects(), tracemalloc.take_snapshot()
        argv = [sys.executable, "-c", CLIENT, str(handle.port), str(n), handle.general_id]
        proc = await trio.lowlevel.open_process(
            [*argv, mint(SECRET, "holder")], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert proc.stdout is not None and proc.stdin is not None
        assert b"held" in await proc.stdout.receive_some(100)
        await all_joined(handle, n)
        held, last = objects() - before, tracemalloc.take_snapshot()
        total = sum(d.size_diff for d in last.compare_to(first, "traceback"))
        print(f"{n} idle joined connections: {total / n / 1024:.2f} KiB of Python heap each")
        print("objects each:", {k: round(v / n, 2) for k, v in held.most_common(20)})
        for d in last.compare_to(first, "lineno")[:sites]:
            print(f"{d.size_diff / n:8.1f} B  {d.count_diff / n:5.2f} blocks  {d.traceback}")
        await proc.stdin.aclose()
        await proc.wait()
        handle.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=2000)
    parser.add_argument("--sites", type=int, default=25)
    args = parser.parse_args()
    os.environ.pop("TRICHAT_DATA_DIR", None)
    trio.run(measure, args.n, args.sites)


if __name__ == "__main__":
    main()
