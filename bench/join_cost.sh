#!/usr/bin/env bash
# What a connection and its join cost the instance: N connections (default 2,004),
# each joining one of 501 fresh channels, 32 connecting at once (wsload -mode hold;
# one token, so every connection is the same user and 501 of the joins are first
# joins, the rest joins of a channel the user has a marker in).
#
#   bench/join_cost.sh sqlite [N]     one instance on SQLite
#   bench/join_cost.sh pg [N]         one instance on PostgreSQL + Redis (PG_URL, REDIS:
#                                     dropped and flushed first, as bench/reference.sh s2c)
#
# Prints the instance's CPU per connection and join (/proc/PID/stat over the connects
# and the 25 s held after them, less an empty instance's fixed work over as long) and,
# when perf is here, its sendto calls per join (the store's, Redis' and the frames to
# the clients: what changes when a join crosses to the store fewer times).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/cluster_env.sh"
store=${1:?usage: bench/join_cost.sh sqlite|pg [N]} n=${2:-2004}
hold=25
s2c_tok=$("$here/.venv/bin/trichat" token bench --ttl 2h)
if [ "$store" = pg ]; then
  s2c_reset
  s2c_start 1
  pid=$s2c_pid port=8041
else
  port=8010
  s2c_start_embedded $port
  pid=$s2c_pid
fi
s2c_rooms $port joins
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sleep 2  # the instance's start-up work done
idle0=$(ticks "$pid")
sleep 5
idle=$(($(ticks "$pid") - idle0))  # an empty instance's ticks over 5 s
perf_out=$work/perf.txt
if command -v perf >/dev/null; then
  perf stat -e syscalls:sys_enter_sendto -p "$pid" -o "$perf_out" 2>/dev/null &
  perf_pid=$!
fi
t0=$(ticks "$pid") s0=$(date +%s.%N)
taskset -c 0 "$dir/bin/wsload" -mode hold -n "$n" -rooms $s2c_channels \
  -room-list "$work/rooms" -url "$(s2c_url $port)" -connect-concurrency 32 \
  -join '{"type":"join","channel_id":"{room}"}' -settle 1s -hold ${hold}s >"$work/hold.json"
t1=$(ticks "$pid") s1=$(date +%s.%N)
[ -z "${perf_pid:-}" ] || { kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true; }
s2c_stop "$pid"
"$here/.venv/bin/python" - "$work/hold.json" "$perf_out" "$n" "$((t1 - t0))" "$idle" \
  "$s0" "$s1" "$(getconf CLK_TCK)" "$store" <<'EOF'
import json, os, re, sys
hold, perf, n, ticks, idle, s0, s1, hz, store = sys.argv[1:]
res, n, hz = json.load(open(hold)), int(n), int(hz)
cpu = (int(ticks) - int(idle) * (float(s1) - float(s0)) / 5) / hz
line = f"{store}: {res.get('conns')} of {n} connected, {res.get('disconnects', 0)} dropped; " \
       f"{cpu * 1000 / n:.2f} ms of CPU per connection and join"
if os.path.exists(perf) and (m := re.search(r"([\d,]+)\s+syscalls:sys_enter_sendto", open(perf).read())):
    line += f", {int(m.group(1).replace(',', '')) / n:.2f} sendto per join"
print(line)
EOF
