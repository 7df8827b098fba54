"""The reference instrument vendored in bench/kit builds from a clone (bench/kit/build.sh)
and measures what bench/reference.sh measures: a short wsload S1 against a real
`trichat run`, and against the Python websockets peer server from the kit's venv."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.bench.test_bench import FIGURES, SECRET
from tests.helpers.process import TrichatProcess

KIT = Path(__file__).parents[2] / "bench" / "kit"


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bench/kit/build.sh into a fresh BENCH_DIR, as reference.sh runs it."""
    out = tmp_path_factory.mktemp("bench-kit")
    env = {**os.environ, "BENCH_DIR": str(out)}
    done = subprocess.run([str(KIT / "build.sh")], env=env, capture_output=True, text=True,
                          timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (out / "bin" / "wsload").is_file() and (out / ".venv" / "bin" / "python").is_file()
    return out


def wsload(kit: Path, *args: str) -> dict[str, Any]:
    done = subprocess.run([str(kit / "bin" / "wsload"), *args], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.stdout.strip(), done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def assert_all_delivered(report: dict[str, Any], members: int) -> None:
    assert report["conns"] == members and report["connect_errors"] == 0, report
    assert report["sent"] == report["target_sent"] > 0 and report["send_errors"] == 0, report
    assert report["deliveries_expected"] == report["sent"] * members  # the sender too
    assert report["deliveries_received"] == report["deliveries_expected"], report
    assert report["lost"] == 0 and report["disconnects"] == 0, report


def test_wsload_s1_against_trichat(kit: Path, tmp_path: Path) -> None:
    server = TrichatProcess(
        tmp_path / "server.log",
        SECRET,
        TRICHAT_DATA_DIR=str(tmp_path / "data"),
        TRICHAT_RATE_LIMIT_PER_MINUTE="1000000",
        TRICHAT_MAX_CONNECTIONS_PER_USER="1000",
        TRICHAT_HISTORY_ON_JOIN="0",
    )
    try:
        cid = server.general
        report = wsload(kit, "-server-pid", str(server.proc.pid), "-n", "50", "-rooms", "1",
                        "-senders", "2", "-rate", "10", "-duration", "2s", "-drain", "5s",
                        "-connect-concurrency", "50", "-url", server.ws_url("bench"),
                        "-join", json.dumps({"type": "join", "channel_id": cid}),
                        "-send", json.dumps({"type": "message", "channel_id": cid,
                                             "content": "lg:{ts}:{seq}"}),
                        "-ts-regex", r"lg:(\d+):")  # fmt: skip
    finally:
        server.stop()
    assert_all_delivered(report, 50)
    lat = report["latency_ms"]
    FIGURES.append(
        f"wsload (bench/kit) S1 50 members x 10 msg/s: server {report['server_cpu_pct']} % CPU; "
        f"latency p50 {lat['p50']} ms, p99 {lat['p99']} ms"
    )


def test_wsload_s1_against_the_python_websockets_peer(kit: Path) -> None:
    with socket.socket() as probe:  # a free port for the peer (it takes one as argument)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    peer = subprocess.Popen(
        [str(kit / ".venv" / "bin" / "python"), str(KIT / "servers" / "py" / "ws_asyncio.py"),
         str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert peer.stderr is not None
        assert "listening on" in peer.stderr.readline()  # blocks until it listens
        url = f"ws://127.0.0.1:{port}/ws?room={{room}}&user={{user}}"  # the kit's default form
        report = wsload(kit, "-n", "20", "-rooms", "1", "-senders", "1", "-rate", "10",
                        "-duration", "1s", "-drain", "5s", "-url", url)  # fmt: skip
    finally:
        peer.terminate()
        peer.wait(timeout=10)
        if peer.stderr is not None:
            peer.stderr.close()
    assert_all_delivered(report, 20)
