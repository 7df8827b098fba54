"""What one `Outbox.offer` costs on the fan-out path (docs/performance.md).

    PYTHONPATH=src .venv/bin/python bench/outbox_cost.py [-n 1000000]

Offers `n` frames of a typical message's size to an outbox over a socketpair
(the kernel always takes them: the reading end is drained between batches, off
the clock) and over /dev/null (the same Python path with the cheapest write, so
the outbox's own overhead shows). Wall time per offer, median of 7 runs.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import time

from trichat.outbox import Outbox
from trichat.transport import SocketTransport

FRAME = b"\x81\x7e\x00\x96" + b"x" * 150  # a 150-byte text frame
BATCH = 500


def per_offer(n: int, devnull: bool) -> float:
    if devnull:
        fd, reader, keep = os.open("/dev/null", os.O_WRONLY), None, None
    else:
        keep, reader = socket.socketpair()
        for sock in (keep, reader):
            sock.setblocking(False)
        keep.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        fd = keep.fileno()
    offer = Outbox(SocketTransport(fd), 1 << 30).offer
    spent = 0.0
    for _ in range(n // BATCH):
        started = time.perf_counter()
        for _ in range(BATCH):
            offer(FRAME)
        spent += time.perf_counter() - started
        while reader is not None:
            try:
                reader.recv(1 << 20)
            except BlockingIOError:
                break
    if keep is None:
        os.close(fd)
    else:
        keep.close()
        assert reader is not None
        reader.close()
    return spent / n * 1e9


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=1_000_000)
    args = parser.parse_args()
    for name, devnull in (("socketpair", False), ("/dev/null", True)):
        figures = [per_offer(args.n, devnull) for _ in range(7)]
        print(f"{name:>10}: {statistics.median(figures):5.0f} ns per offer (median of 7)")


if __name__ == "__main__":
    main()
