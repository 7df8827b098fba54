"""Server CPU over wsload's send phase, summed over several processes.

wsload's `-server-pid` measures one process; two instances of one cluster are two.
`run` starts wsload (the command after `--`), samples each given pid's CPU seconds
(utime + stime, /proc) every ~100 ms into a file while it runs, and afterwards reads
the send phase off wsload's JSON line: it begins `connect_s + settle + 0.05 s` after
wsload started (wsload's own 50 ms lead) and lasts `duration_s`. Each pid's CPU
seconds at both ends are interpolated between the samples around them.

    cpu_window.py run --label NAME --pids 123,456 --settle 8 --samples S --out R.json \\
        -- wsload ... -server-pid 123 ...
    cpu_window.py summary R1.json R2.json ...     # bench/reference.sh s2c's table

`run` passes wsload's stdout through (its JSON line) and prints one `cpu_window:`
line: each pid's CPU %, their sum and, for comparison, wsload's `server_cpu_pct`
(the pid given to `-server-pid`). The sampler runs beside wsload (same core):
wsload's clock and this one start within a few ms of each other.
"""

from __future__ import annotations

import argparse
import bisect
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from trichat.bench.procstat import cpu_seconds

INTERVAL = 0.1  # seconds between samples
LEAD = 0.05  # wsload starts sending 50 ms after its settle pause
Sample = tuple[float, list[float]]  # monotonic time, CPU seconds of each pid


def record(pids: list[int], path: Path, stop: threading.Event) -> None:
    """One line per sample, `time cpu1 cpu2 ...`, until `stop` or a pid is gone."""
    with path.open("a") as out:
        while True:
            try:
                cpu = [cpu_seconds(pid) for pid in pids]
            except OSError:  # a process ended
                return
            out.write(" ".join(f"{v:.6f}" for v in (time.monotonic(), *cpu)) + "\n")
            out.flush()
            if stop.wait(INTERVAL):
                return


def read_samples(path: Path) -> tuple[float, list[Sample]]:
    """wsload's start (the `# start` line) and the samples."""
    start, samples = 0.0, []
    for line in path.read_text().splitlines():
        if line.startswith("# start "):
            start = float(line.split()[2])
        elif line and not line.startswith("#"):
            t, *cpu = (float(v) for v in line.split())
            samples.append((t, cpu))
    return start, samples


def at(samples: list[Sample], t: float) -> list[float]:
    """Each pid's CPU seconds at time `t`, linear between the samples around it."""
    if not samples or not samples[0][0] <= t <= samples[-1][0]:
        raise ValueError(f"time {t:.3f} is outside the samples")
    i = max(1, bisect.bisect_left([s[0] for s in samples], t))
    (t0, c0), (t1, c1) = samples[i - 1], samples[i]
    f = (t - t0) / (t1 - t0) if t1 > t0 else 0.0
    return [a + f * (b - a) for a, b in zip(c0, c1, strict=True)]


def window_pct(path: Path, result: dict[str, Any], settle: float) -> list[float]:
    """Each pid's CPU % over the send phase of the wsload run `result`."""
    start, samples = read_samples(path)
    begin = start + result["connect_s"] + settle + LEAD
    end = begin + result["duration_s"]
    c0, c1 = at(samples, begin), at(samples, end)
    return [100 * (b - a) / (end - begin) for a, b in zip(c0, c1, strict=True)]


def run(args: argparse.Namespace) -> int:
    pids = [int(p) for p in args.pids.split(",")]
    args.samples.write_text(f"# pids {' '.join(map(str, pids))}\n")
    stop = threading.Event()
    sampler = threading.Thread(target=record, args=(pids, args.samples, stop), daemon=True)
    sampler.start()
    time.sleep(INTERVAL / 2)  # a sample before wsload's start
    start = time.monotonic()
    load = subprocess.Popen(
        args.command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert load.stdout is not None
    last = ""
    for line in load.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        last = line if line.startswith("{") else last
    code = load.wait()
    time.sleep(INTERVAL * 1.5)  # a sample past the window's end
    stop.set()
    sampler.join()
    with args.samples.open("a") as out:
        out.write(f"# start {start:.6f}\n")
    if not last:
        print(f"cpu_window: {args.label}: no JSON line from wsload (exit {code})")
        return 1
    result = json.loads(last)
    pcts = window_pct(args.samples, result, args.settle)
    total = sum(pcts)
    each = " + ".join(f"{p:.1f}" for p in pcts)
    print(
        f"cpu_window: {args.label}: pids {args.pids} CPU % over the send phase {each}"
        f" = {total:.1f}; wsload server_cpu_pct {result.get('server_cpu_pct')}"
        f" (pid {result.get('server_pid')})"
    )
    record_out = {"label": args.label, "pids": pids, "cpu_pct": pcts, "wsload": result}
    args.out.write_text(json.dumps(record_out) + "\n")
    return code


RATIOS = (  # (what, numerator, denominator, target)
    ("PG+Redis 1 instance / SQLite", "trichat-pg-redis-1", "trichat-sqlite", "<= 1.5"),
    ("PG+Redis 2 instances / 1 instance", "trichat-pg-redis-2", "trichat-pg-redis-1", "<= 1.3"),
    ("trichat SQLite / Python websockets", "trichat-sqlite", "py-websockets", ""),
)


def summary(paths: list[Path]) -> int:
    """Per run: server CPU (summed), µs of it per message, latency, loss; the ratios."""
    us: dict[str, float] = {}
    failed: set[str] = set()
    head = f"{'run':<20} {'server CPU %':>12} {'µs/msg':>8} {'p50 ms':>7} {'p99 ms':>7}"
    print(f"{head} {'sent':>6} {'lost':>5} pass")
    for path in paths:
        rec = json.loads(path.read_text())
        name, res, cpu = rec["label"], rec["wsload"], sum(rec["cpu_pct"])
        rate = res["sent"] / res["duration_s"]
        us[name] = cpu / 100 / rate * 1e6 if rate else 0.0
        if not res.get("pass"):
            failed.add(name)
        lat, passed = res.get("latency_ms", {}), json.dumps(res.get("pass"))
        print(
            f"{name:<20} {cpu:>12.1f} {us[name]:>8.1f} {lat.get('p50', 0):>7.2f}"
            f" {lat.get('p99', 0):>7.2f} {res['sent']:>6} {res['lost']:>5} {passed}"
        )
    print("ratios of server CPU per message:")
    for what, num, den, target in RATIOS:
        if num in us and den in us:
            goal = f"  (target {target})" if target else ""
            ratio = f"{us[num] / us[den]:.2f}" if us[den] else "n/a"
            bad = sorted({num, den} & failed)
            void = f"  NOT VALID: {', '.join(bad)} did not pass" if bad else ""
            print(f"  {what:<36} {ratio}{goal}{void}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run wsload (after --), sampling the pids' CPU")
    r.add_argument("--label", required=True)
    r.add_argument("--pids", required=True, help="comma-separated server pids")
    r.add_argument("--settle", type=float, required=True, help="wsload's -settle, seconds")
    r.add_argument("--samples", type=Path, required=True, help="file for the samples")
    r.add_argument("--out", type=Path, required=True, help="file for this run's result")
    r.add_argument("command", nargs=argparse.REMAINDER)
    s = sub.add_parser("summary", help="the table over `run` results")
    s.add_argument("results", type=Path, nargs="+")
    args = parser.parse_args()
    if args.cmd == "summary":
        return summary(args.results)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
