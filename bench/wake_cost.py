"""The floor under any per-event cost measured at a steady rate: what one trio
wake-up to read a socket costs this process in CPU. A second process (on CPU 0)
sends 100-byte writes at `--rate`; this one reads them with trio and prints its
CPU per wake-up.

    taskset -c 1 .venv/bin/python bench/wake_cost.py [-n 5000] [--rate 500]

`bench/pubsub_cost.py --batch 1` cannot cost less than this per event.
"""

from __future__ import annotations

import argparse
import resource
import socket
import subprocess
import sys

import trio

SENDER = """
import socket, sys, time
n, rate, port = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port))
s.recv(1)  # the reader is ready
start = time.perf_counter()
for i in range(n):
    s.send(b"x" * 100)
    pause = start + (i + 1) / rate - time.perf_counter()
    if pause > 0:
        time.sleep(pause)
s.close()
"""


async def receive(conn: socket.socket, n: int, rate: float) -> None:
    sock = trio.socket.from_stdlib_socket(conn)
    before = resource.getrusage(resource.RUSAGE_THREAD)
    await sock.send(b"!")
    got = wakes = 0
    while got < n * 100:
        got += len(await sock.recv(65536))
        wakes += 1
    after = resource.getrusage(resource.RUSAGE_THREAD)
    user = (after.ru_utime - before.ru_utime) / wakes * 1e6
    system = (after.ru_stime - before.ru_stime) / wakes * 1e6
    print(
        f"{wakes} wake-ups at {rate:g}/s: {user + system:.1f} µs CPU each "
        f"(user {user:.1f}, system {system:.1f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=500)
    args = parser.parse_args()
    listener = socket.create_server(("127.0.0.1", 0))
    port = str(listener.getsockname()[1])
    argv = ["taskset", "-c", "0", sys.executable, "-c", SENDER, str(args.n), str(args.rate), port]
    with subprocess.Popen(argv) as sender:
        conn, _ = listener.accept()
        trio.run(receive, conn, args.n, args.rate)
        sender.wait()


if __name__ == "__main__":
    main()
