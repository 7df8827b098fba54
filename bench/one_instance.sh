#!/usr/bin/env bash
# s2c's load (501 channels x 4, every member a sender) on one instance, on the store
# and broker asked for: what a stored message costs each way at one rate.
#
#   bench/one_instance.sh local RATE [DURATION]    SQLite, the in-process broker
#   bench/one_instance.sh sqlite RATE [DURATION]   SQLite, Redis as the broker
#   bench/one_instance.sh pg RATE [DURATION]       PostgreSQL + Redis (as s2c's)
#   PERF=1 bench/one_instance.sh ...               and the instance's system calls
#                                                  over 10 s of the send phase
#
# Prints the instance's CPU % over the send phase, µs per stored message, p50 and
# p99. Uses the database and Redis of bench/reference.sh s2c (PG_URL, REDIS: dropped
# and flushed first; see bench/reference_cluster.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/cluster_env.sh"
store=${1:?usage: bench/one_instance.sh local|sqlite|pg RATE [DURATION]}
rate=${2:?usage: bench/one_instance.sh local|sqlite|pg RATE [DURATION]} dur=${3:-15s}
n=$((s2c_channels * s2c_members))
s2c_common=(-drain 5s -pass-p99-ms 100 -connect-concurrency 200 -settle ${s2c_settle}s
            -busy-poll -duration "$dur" -n $n -rooms $s2c_channels -senders $n -rate "$rate")
s2c_tok=$("$here/.venv/bin/trichat" token bench --ttl 2h)
case $store in
  pg) s2c_reset; s2c_start 1 ;;
  local | sqlite)
    [ "$store" = local ] || { redis-cli -u "$s2c_redis" flushdb >/dev/null; export REDIS_URL=$s2c_redis; }
    s2c_start_embedded 8041 ;;
  *) echo "bench/one_instance.sh: the store is local, sqlite or pg, not $store" >&2; exit 2 ;;
esac
pid=$s2c_pid
s2c_rooms 8041 "one-$store"
if [ -n "${PERF:-}" ] && command -v perf >/dev/null; then
  (sleep $((s2c_settle + 3))
   perf stat -e 'syscalls:sys_enter_*' -p "$pid" -o "$work/perf.txt" -- sleep 10 2>/dev/null
   grep -E '^ +[1-9][0-9,]* +syscalls' "$work/perf.txt" | sort -n | tail -8 | sed 's/^/# /') &
  perf_job=$!
fi
s2c_trichat "one-$rate" "$pid" -url "$(s2c_url 8041)" | grep -E '^cpu_window' || true
[ -z "${perf_job:-}" ] || wait "$perf_job" || true
s2c_stop "$pid"
"$here/.venv/bin/python" - "$work/one-$rate.json" "$rate" "$store" <<'EOF'
import json, sys
rec, rate, store = json.load(open(sys.argv[1])), float(sys.argv[2]), sys.argv[3]
lat, cpu = rec["wsload"]["latency_ms"], sum(rec["cpu_pct"])
print(f"{store} at {rate:.0f} msg/s: {cpu:.1f} % of a core ({cpu / 100 / rate * 1e6:.0f} µs per "
      f"message), p50 {lat['p50']} ms, p99 {lat['p99']} ms, lost {rec['wsload']['lost']}")
EOF
