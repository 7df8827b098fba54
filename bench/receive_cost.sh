#!/usr/bin/env bash
# What a message costs the instance that did not take it: s2c's two PostgreSQL +
# Redis instances (501 channels x 4, two members of each channel on each instance),
# with every sender on the first (wsload's even clients; -senders n/2), so the second
# only receives each message from Redis and delivers it to its two members.
#
#   bench/receive_cost.sh RATE [DURATION]     e.g. bench/receive_cost.sh 400 15s
#   SENDERS=all bench/receive_cost.sh 400     every member a sender (s2c's two-instance run)
#
# Prints each instance's CPU % over the send phase and µs per message. Uses the
# same database and Redis as bench/reference.sh s2c (PG_URL, REDIS: dropped and
# flushed first; see bench/reference_cluster.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/cluster_env.sh"
rate=${1:?usage: bench/receive_cost.sh RATE [DURATION]} dur=${2:-15s}
n=$((s2c_channels * s2c_members))
senders=$((n / 2))
[ "${SENDERS:-}" = all ] && senders=$n
s2c_common=(-drain 5s -pass-p99-ms 100 -connect-concurrency 200 -settle ${s2c_settle}s
            -busy-poll -duration "$dur" -n $n -rooms $s2c_channels -senders $senders -rate "$rate")
s2c_tok=$("$here/.venv/bin/trichat" token bench --ttl 2h)
s2c_reset
s2c_start 1
p1=$s2c_pid
s2c_start 2
p2=$s2c_pid
s2c_rooms 8041 receive
s2c_trichat "receive-$rate" "$p1,$p2" -url "$(s2c_url 8041)" -url2 "$(s2c_url 8042)" \
  | grep -E '^cpu_window|"mode":"load"' || true
s2c_metrics first 8041
s2c_metrics second 8042
s2c_stop $p1 $p2
"$here/.venv/bin/python" - "$work/receive-$rate.json" "$rate" <<'EOF'
import json, sys
rec = json.load(open(sys.argv[1]))
rate, lat = float(sys.argv[2]), rec["wsload"]["latency_ms"]
first, second = rec["cpu_pct"]
print(f"first instance {first:.1f} % ({first / 100 / rate * 1e6:.0f} µs per message), "
      f"second {second:.1f} % ({second / 100 / rate * 1e6:.0f} µs per message received); "
      f"p50 {lat['p50']} ms, p99 {lat['p99']} ms, lost {rec['wsload']['lost']}")
EOF
