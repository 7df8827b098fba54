#!/usr/bin/env bash
# Measure trichat with the team's reference load generator (wsload, vendored in
# bench/kit), beside Python websockets in the same run. bench/kit/build.sh builds it
# under ${BENCH_DIR:-/tmp/trichat-bench} (installing Go when missing). SHARED_BENCH=DIR
# measures with a copy of another kit instead (the team's shared/bench layout).
#
#   bench/reference.sh s1 RATE [DURATION]   fan-out: 1000 members in one channel, 10 senders
#   bench/reference.sh s2 RATE [DURATION]   1000 channels x 5 members, every member a sender
#   bench/reference.sh s3 [N]               N idle joined connections: server KiB each (and
#                                           Python websockets holding as many, same run)
#   bench/reference.sh s2c [RATE] [DURATION] 501 channels x 4, every member a sender (800/s,
#                                           15s): trichat on SQLite, on PostgreSQL + Redis,
#                                           two such instances; websockets; CPU/msg ratios
#                                           (bench/reference_cluster.sh)
#
# trichat runs on embedded defaults (SQLite, persistence on) pinned to CPU 1,
# wsload on CPU 0 with -busy-poll, as in bench/kit/README.md.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${BENCH_DIR:-/tmp/trichat-bench}
if [ -n "${SHARED_BENCH:-}" ]; then
  peer=$dir/servers/py/ws_asyncio.py
  if [ ! -x "$dir/bin/wsload" ] || [ ! -f "$peer" ]; then
    rm -rf "$dir" && cp -r "$SHARED_BENCH" "$dir" && chmod -R u+w "$dir"
    (cd "$dir" && ./build.sh >/dev/null)
  fi
else
  peer=$here/bench/kit/servers/py/ws_asyncio.py
  BENCH_DIR=$dir "$here/bench/kit/build.sh" >/dev/null
fi
. "$here/bench/bench_env.sh"
taskset -c 1 "$here/.venv/bin/trichat" run --port 8010 2>"$work/trichat.log" &
tpid=$!
sleep 2
tok=$("$here/.venv/bin/trichat" token bench --ttl 2h)
cid=$(grep -o "general' id: [0-9a-f-]*" "$work/trichat.log" | cut -d' ' -f3 || true)
[ -n "$cid" ] || cid=$(curl -s -H "Authorization: Bearer $tok" localhost:8010/api/v1/chat/channels \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["channels"][0]["id"])')
url="ws://127.0.0.1:8010/ws?token=$tok"
join="{\"type\":\"join\",\"channel_id\":\"$cid\"}"
# stop trichat, run the same load ("${common[@]}") against Python websockets
then_py_websockets() {
  kill $tpid
  taskset -c 1 "$dir/.venv/bin/python" "$peer" 8003 2>/dev/null &
  wpid=$!
  sleep 1
  echo "== py-websockets"
  taskset -c 0 "$dir/bin/wsload" -server-pid $wpid "${common[@]}" \
    -url 'ws://127.0.0.1:8003/ws?room={room}&user={user}' 2>/dev/null
}
case "${1:-s1}" in
  s1)
    rate=${2:-20}; dur=${3:-10s}
    common=(-drain 5s -pass-p99-ms 100 -connect-concurrency 200 -busy-poll -duration "$dur"
            -n 1000 -rooms 1 -senders 10 -rate "$rate")
    echo "== trichat"
    taskset -c 0 "$dir/bin/wsload" -server-pid $tpid "${common[@]}" -url "$url" -join "$join" \
      -send "{\"type\":\"message\",\"channel_id\":\"$cid\",\"content\":\"lg:{ts}:{seq}\"}" \
      -ts-regex 'lg:(\d+):' 2>/dev/null
    then_py_websockets
    ;;
  s2)
    rate=${2:-5000}; dur=${3:-15s}
    # 1000 fresh channels, one per line: wsload's {room} takes the id from the list
    "$here/.venv/bin/python" -c '
import sys
from trichat.bench.run import Scenario, Target, create_channels
s = Scenario(url="http://127.0.0.1:8010", secret=sys.argv[1], channels=1000)
print("\n".join(create_channels(Target(s.url), s, "s2")))' "$TRICHAT_JWT_SECRET" >"$work/rooms"
    # -settle 8s: 5,000 joins (each reads the store) take a few seconds; a member not
    # joined yet when sending starts would count as lost
    common=(-drain 5s -pass-p99-ms 100 -connect-concurrency 200 -settle 8s -busy-poll
            -duration "$dur" -n 5000 -rooms 1000 -senders 5000 -rate "$rate")
    echo "== trichat"
    taskset -c 0 "$dir/bin/wsload" -server-pid $tpid "${common[@]}" -url "$url" \
      -room-list "$work/rooms" -join '{"type":"join","channel_id":"{room}"}' \
      -send '{"type":"message","channel_id":"{room}","content":"lg:{ts}:{seq}"}' \
      -ts-regex 'lg:(\d+):' 2>/dev/null
    then_py_websockets
    ;;
  s3)
    n=${2:-5000}
    common=(-mode hold -n "$n" -hold 20s -connect-concurrency 200)
    echo "== trichat"
    taskset -c 0 "$dir/bin/wsload" -server-pid $tpid "${common[@]}" -url "$url" -join "$join" \
      2>/dev/null
    then_py_websockets
    ;;
  s2c)
    . "$here/bench/reference_cluster.sh"
    s2c "${2:-800}" "${3:-15s}"
    ;;
  *) echo "usage: bench/reference.sh s1 RATE [DURATION] | s2 RATE [DURATION] | s3 [N]" \
       "| s2c [RATE] [DURATION]" >&2; exit 2 ;;
esac
