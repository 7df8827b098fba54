#!/usr/bin/env bash
# Server CPU spent on N idle joined connections (their keep-alive pings): trichat
# (SQLite, one channel) or, with WS=1, Python websockets, on CPU 1; wsload -mode hold
# on CPU 0. Prints the server's CPU % of one core over 20 s once the connections are up
# (/proc/PID/stat utime + stime).
#
#   bench/idle_cpu.sh                N=2000 by default
#   N=10000 WARM=25 HOLD=60s bench/idle_cpu.sh
#   PING=3000 PONG=6000 bench/idle_cpu.sh   pings off: the floor under the pings
#   SRC=/tmp/other-tree bench/idle_cpu.sh   another tree's src/ (an A/B run)
#   WS=1 bench/idle_cpu.sh                  Python websockets (pings every 20 s)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
src=${SRC:-$here}; n=${N:-2000}; dir=${BENCH_DIR:-/tmp/trichat-bench}
BENCH_DIR=$dir "$here/bench/kit/build.sh" >/dev/null
[ -x "$here/.venv/bin/trichat" ] || "$here/scripts/bootstrap"  # a fresh clone
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export TRICHAT_DATA_DIR=$work/data TRICHAT_MAX_CONNECTIONS=100000 \
  TRICHAT_MAX_CONNECTIONS_PER_USER=100000 TRICHAT_RATE_LIMIT_PER_MINUTE=1000000 \
  TRICHAT_HISTORY_ON_JOIN=0 TRICHAT_JWT_SECRET=bench-secret-bench-secret-bench-secret \
  TRICHAT_LOG_LEVEL=warning TRICHAT_PING_INTERVAL=${PING:-30} TRICHAT_PONG_TIMEOUT=${PONG:-60}
ulimit -n "$(ulimit -Hn)"
if [ -n "${WS:-}" ]; then
  taskset -c 1 "$dir/.venv/bin/python" "$here/bench/kit/servers/py/ws_asyncio.py" 8010 \
    2>/dev/null &
  pid=$!
  sleep 1
  url='ws://127.0.0.1:8010/ws?room={room}&user={user}'
  join=()
else
  PYTHONPATH=$src/src taskset -c 1 "$here/.venv/bin/python" -m trichat run --port 8010 \
    2>"$work/log" &
  pid=$!
  sleep 2
  tok=$("$here/.venv/bin/trichat" token bench --ttl 2h)
  cid=$(curl -s -H "Authorization: Bearer $tok" localhost:8010/api/v1/chat/channels \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["channels"][0]["id"])')
  url="ws://127.0.0.1:8010/ws?token=$tok"
  join=(-join "{\"type\":\"join\",\"channel_id\":\"$cid\"}")
fi
taskset -c 0 "$dir/bin/wsload" -mode hold -n "$n" -hold "${HOLD:-45s}" \
  -connect-concurrency 200 -url "$url" "${join[@]}" >/dev/null 2>&1 &
sleep "${WARM:-15}"
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
a=$(ticks)
sleep 20
b=$(ticks)
python3 -c "print(f'{$n} idle connections: server CPU {($b - $a) / $(getconf CLK_TCK) / 20 * 100:.2f} %')"
