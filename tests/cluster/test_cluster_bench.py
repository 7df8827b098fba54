"""`trichat bench` against a cluster: members of every channel spread over three
instances, every message delivered to every member wherever it is connected."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import trio

from tests.cluster.conftest import SECRET, Cluster
from tests.helpers.client import http


async def test_bench_spreads_members_over_instances(cluster: Cluster) -> None:
    nodes = await cluster.start(3)
    urls = [node.url for node in nodes]
    done = await trio.to_thread.run_sync(
        lambda: subprocess.run(
            [sys.executable, "-m", "trichat", "bench", *urls, "--secret", SECRET,
             "--channels", "4", "--members", "6", "--senders", "2", "--rate", "20",
             "--duration", "2s", "--processes", "2", "--json", "--quiet"],
            capture_output=True, text=True, timeout=120,
        )
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["conns"] == 24 and report["pass"]
    assert report["deliveries"]["lost"] == 0
    assert report["deliveries"]["received"] == report["acked"] * 6 > 0
    for node in nodes:  # 24 clients round-robin over 3 instances: 8 each
        metrics = (await http(node.port, "GET", "/metrics")).body.decode()
        served = re.search(r"^websocket_connections_total (\S+)$", metrics, re.M)
        assert served is not None and float(served.group(1)) == 8.0, node.url
