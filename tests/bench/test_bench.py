"""`trichat bench` as a user runs it, against a real `trichat run`; and the small
regression benchmark whose figures CI prints (recorded, never asserted on)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.process import TrichatProcess

SECRET = "bench-secret-of-sufficient-length-for-hs256-x"
FIGURES: list[str] = []  # printed at the end of the run by tests/conftest.py


@pytest.fixture
def server(tmp_path: Path) -> TrichatProcess:
    node = TrichatProcess(
        tmp_path / "server.log",
        SECRET,
        TRICHAT_DATA_DIR=str(tmp_path / "data"),
        TRICHAT_RATE_LIMIT_PER_MINUTE="1000000",
    )
    yield node  # type: ignore[misc]
    node.stop()


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trichat", "bench", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_bench_drives_channels_and_reports(server: TrichatProcess) -> None:
    done = bench(server.url, "--secret", SECRET, "--channels", "3", "--members", "4",
                 "--senders", "2", "--rate", "30", "--duration", "2s", "--processes", "2",
                 "--json")  # fmt: skip
    report: dict[str, Any] = json.loads(done.stdout)
    assert report["conns"] == 12 and report["connect_errors"] == 0
    assert report["sent"] == report["acked"] == report["target_sent"] == 60
    deliveries = report["deliveries"]
    assert deliveries["expected"] == 60 * 4  # every member, the sender included
    assert deliveries["received"] == deliveries["expected"] and deliveries["lost"] == 0
    assert report["errors"] == {} and report["disconnects"] == 0
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p99"]
    assert report["server"]["pid"] == server.proc.pid  # found by its port
    assert report["server"]["rss_end_kib"] > 0
    assert done.returncode == (0 if report["pass"] else 1)


def test_bench_reacts_instead_of_posting(server: TrichatProcess) -> None:
    done = bench(server.url, "--secret", SECRET, "--members", "4", "--senders", "2",
                 "--rate", "10", "--duration", "2s", "--processes", "1", "--react",
                 "--json")  # fmt: skip
    report: dict[str, Any] = json.loads(done.stdout)
    assert report["sent"] == report["acked"] == 20  # react, unreact, react, …
    assert report["errors"] == {}, report["errors"]
    deliveries = report["deliveries"]
    assert deliveries["received"] == deliveries["expected"] == 20 * 4
    assert report["latency_ms"]["p50"] > 0  # timed on the reaction_added frames


def test_bench_human_report_and_progress(server: TrichatProcess) -> None:
    done = bench(server.url, "--secret", SECRET, "--members", "5", "--senders", "1",
                 "--rate", "5", "--duration", "1s", "--processes", "1")  # fmt: skip
    assert "5/5 joined" in done.stderr and "delivered" in done.stderr  # progress
    lines = dict(line.split(None, 1) for line in done.stdout.strip().splitlines())
    assert lines["deliveries"].startswith("25 of 25 expected, lost 0")
    assert lines["result"].startswith(("PASS", "FAIL"))


def test_bench_against_nothing_listening_is_one_line(server: TrichatProcess) -> None:
    with socket.socket() as probe:  # a port nothing listens on: bound, never listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        done = bench(f"http://127.0.0.1:{port}", "--secret", SECRET, "--members", "1")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr  # after the progress line, one line saying why
    last = done.stderr.strip().splitlines()[-1]
    assert f"cannot reach the server at 127.0.0.1:{port}" in last


def test_bench_refuses_bad_arguments(server: TrichatProcess) -> None:
    bad = bench(server.url, "--secret", SECRET, "--duration", "forever")
    assert bad.returncode == 2 and "--duration='forever'" in bad.stderr
    no_secret = bench(server.url, "--data-dir", "/nonexistent")
    assert no_secret.returncode == 2 and "--secret" in no_secret.stderr
    wrong = bench(server.url, "--secret", "not-the-secret", "--members", "1")
    assert wrong.returncode == 2 and "401" in wrong.stderr


def test_regression_benchmark_records_figures(server: TrichatProcess) -> None:
    """Fan-out at a modest rate on a one-process generator: the figures go to the
    test log (pytest's summary) so that a 2x slowdown shows; only correctness is
    asserted, never time."""
    done = bench(server.url, "--secret", SECRET, "--members", "300", "--senders", "5",
                 "--rate", "20", "--duration", "5s", "--processes", "1", "--json")  # fmt: skip
    report = json.loads(done.stdout)
    assert report["conns"] == 300 and report["deliveries"]["lost"] == 0
    lat, srv = report["latency_ms"], report["server"]
    FIGURES.append(
        f"fan-out 300 members x 20 msg/s ({report['deliveries_per_s']} deliveries/s): "
        f"server {srv['cpu_us_per_delivery']} µs CPU/delivery, {srv['kib_per_conn']} KiB/conn; "
        f"latency p50 {lat['p50']} ms, p99 {lat['p99']} ms, max {lat['max']} ms; "
        f"generator {report['generator_cpu_pct']['total']} % CPU"
    )


def test_regression_benchmark_records_many_small_channels(server: TrichatProcess) -> None:
    """S2's shape, small: 100 channels of 5, every member a sender. The figure to
    watch is the server's CPU per stored message (recorded, never asserted)."""
    done = bench(server.url, "--secret", SECRET, "--channels", "100", "--members", "5",
                 "--senders", "5", "--rate", "200", "--duration", "5s", "--processes", "1",
                 "--json")  # fmt: skip
    report = json.loads(done.stdout)
    assert report["conns"] == 500 and report["deliveries"]["lost"] == 0
    srv, lat = report["server"], report["latency_ms"]
    rate = report["sent"] / 5
    per_message = round(srv["cpu_pct"] / 100 / rate * 1e6) if rate else None
    FIGURES.append(
        f"many channels 100 x 5, every member a sender, {rate:.0f} msg/s: server "
        f"{per_message} µs CPU per stored message; latency p50 {lat['p50']} ms, p99 {lat['p99']} ms"
    )


def test_regression_benchmark_records_idle_connections(server: TrichatProcess) -> None:
    """S3's shape, small: 1,000 idle joined connections (10 channels of 100); the
    figure is the server's memory per connection (recorded, never asserted)."""
    done = bench(server.url, "--secret", SECRET, "--channels", "10", "--members", "100",
                 "--senders", "0", "--idle-hold", "3s", "--processes", "1",
                 "--json")  # fmt: skip
    report = json.loads(done.stdout)
    assert report["conns"] == 1000 and report["connect_errors"] == 0
    FIGURES.append(
        f"idle connections 1,000 (10 channels x 100): server {report['server']['kib_per_conn']} "
        "KiB RSS per connection"
    )
