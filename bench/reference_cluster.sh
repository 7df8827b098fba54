# bench/reference.sh s2c RATE [DURATION]: sourced by reference.sh (it uses its $here,
# $dir, $peer, $work, $tpid: trichat on SQLite, port 8010, started). S2's shape scaled
# for the slower path, every member a sender, run four times in one go:
#
#   trichat-sqlite      the instance reference.sh started (embedded defaults)
#   trichat-pg-redis-1  one instance on PostgreSQL + Redis (port 8041)
#   trichat-pg-redis-2  two instances (8041, 8042), wsload -url2: odd clients on the second
#   py-websockets       the kit's peer server, the same load
#
# 501 channels x 4 members, not 500: wsload puts client i in room i % rooms and on -url2
# when i is odd, so with an even room count every room's members share one parity, all
# on one instance. With 501 each channel has two members on each instance.
#
# Each run has its own fresh channels; before each PostgreSQL run the database
# trichat_ref_bench is DROPPED and recreated (PG_URL, default
# postgresql://postgres@127.0.0.1:5432) and the Redis database REDIS (default
# redis://127.0.0.1:6379/14) FLUSHED. bench/cpu_window.py sums the instances' CPU over
# the send phase (wsload's -server-pid sees one process); the table at the end gives
# server CPU per message and its ratios. PostgreSQL's and Redis's own CPU is not in it.
# settle 25 s: on PostgreSQL + Redis a join costs ~10 ms of CPU here, so the 2,004
# joins take ~20 s (32 at a time); a member not joined when sending starts is lost
s2c_channels=501 s2c_members=4 s2c_settle=${S2C_SETTLE:-25}
s2c_pg=${PG_URL:-postgresql://postgres@127.0.0.1:5432}
s2c_db=trichat_ref_bench
s2c_redis=${REDIS:-redis://127.0.0.1:6379/14}

s2c_health() {  # PORT LOG: wait until the instance answers /health
  for _ in $(seq 150); do
    curl -sf "http://127.0.0.1:$1/api/v1/chat/health" >/dev/null && return 0
    sleep 0.2
  done
  echo "s2c: the instance on port $1 is not healthy; its log:" >&2
  cat "$2" >&2
  return 1
}

s2c_stop() {  # PID...: stop, and wait for the processes to end
  kill "$@" 2>/dev/null || true
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

s2c_log() {  # NAME FILE: an instance's warnings and errors (LOG_LEVEL=warning), if any
  [ ! -s "$2" ] || { echo "# log $1: $(wc -l <"$2") lines, first 5:"; head -5 "$2"; }
}

s2c_reset() {  # a fresh database and Redis db for a PostgreSQL + Redis run
  PGOPTIONS='-c client_min_messages=warning' psql -q "$s2c_pg/postgres" \
    -c "DROP DATABASE IF EXISTS $s2c_db WITH (FORCE)" -c "CREATE DATABASE $s2c_db" >/dev/null
  redis-cli -u "$s2c_redis" flushdb >/dev/null
}

s2c_start() {  # N: instance N on PostgreSQL + Redis, port 8040+N; its pid in s2c_pid
  local port=$((8040 + $1))
  DATABASE_URL=$s2c_pg/$s2c_db REDIS_URL=$s2c_redis TRICHAT_INSTANCE_ID=ref$1 \
    taskset -c 1 "$here/.venv/bin/trichat" run --port $port 2>"$work/trichat-$port.log" &
  s2c_pid=$!
  s2c_health $port "$work/trichat-$port.log"
}

s2c_start_embedded() {  # PORT: one instance on SQLite (REDIS_URL as exported); pid in s2c_pid
  taskset -c 1 "$here/.venv/bin/trichat" run --port "$1" 2>"$work/trichat-$1.log" &
  s2c_pid=$!
  s2c_health "$1" "$work/trichat-$1.log"
}

s2c_rooms() {  # PORT RUN_ID: fresh channels through that instance, ids in $work/rooms
  "$here/.venv/bin/python" -c '
import sys
from trichat.bench.run import Scenario, Target, create_channels
s = Scenario(url=f"http://127.0.0.1:{sys.argv[2]}", secret=sys.argv[1], channels=int(sys.argv[4]))
print("\n".join(create_channels(Target(s.url), s, sys.argv[3])))' \
    "$TRICHAT_JWT_SECRET" "$1" "$2" $s2c_channels >"$work/rooms"
}

s2c_url() { echo "ws://127.0.0.1:$1/ws?token=$s2c_tok"; }  # PORT

s2c_load() {  # NAME PIDS(comma-separated) WSLOAD-FLAGS...: one measured wsload run
  local name=$1 pids=$2
  shift 2
  echo "== $name"
  taskset -c 0 "$here/.venv/bin/python" "$here/bench/cpu_window.py" run --label "$name" \
    --pids "$pids" --settle $s2c_settle --samples "$work/$name.samples" --out "$work/$name.json" \
    -- "$dir/bin/wsload" -server-pid "${pids%%,*}" "${s2c_common[@]}" "$@"
}

s2c_trichat() {  # NAME PIDS URL-FLAGS...: wsload with trichat's frames
  local name=$1 pids=$2
  shift 2
  s2c_load "$name" "$pids" "$@" -room-list "$work/rooms" \
    -join '{"type":"join","channel_id":"{room}"}' \
    -send '{"type":"message","channel_id":"{room}","content":"lg:{ts}:{seq}"}' \
    -ts-regex 'lg:(\d+):'
}

# NAME PORT: errors, gap fills, frames fanned out (two instances: each fans out every
# message, as each channel has members on both) and message frames received
s2c_metrics() {
  local series='websocket_errors_total|trichat_gap_fills_total|websocket_messages_total'
  series+='\{type="message"\}|websocket_broadcast_duration_seconds_count'
  curl -s "http://127.0.0.1:$2/metrics" | grep -E "^($series)" | grep -v ' 0\.0$' \
    | sed "s|^|# $1: |" || true
}

s2c() {  # RATE DURATION
  local n=$((s2c_channels * s2c_members)) p1 p2
  # -settle: every join reads the store; a member not joined when sending starts is lost
  s2c_common=(-drain 5s -pass-p99-ms 100 -connect-concurrency 200 -settle ${s2c_settle}s
              -busy-poll -duration "$2" -n $n -rooms $s2c_channels -senders $n -rate "$1")
  s2c_tok=$("$here/.venv/bin/trichat" token bench --ttl 2h)  # good on every instance
  s2c_health 8010 "$work/trichat.log"
  s2c_rooms 8010 s2c-sqlite
  s2c_trichat trichat-sqlite $tpid -url "$(s2c_url 8010)"
  s2c_metrics trichat-sqlite 8010
  s2c_stop $tpid
  s2c_log trichat-sqlite "$work/trichat.log"

  s2c_reset
  s2c_start 1
  p1=$s2c_pid
  s2c_rooms 8041 s2c-pg1
  s2c_trichat trichat-pg-redis-1 $p1 -url "$(s2c_url 8041)"
  s2c_metrics trichat-pg-redis-1 8041
  s2c_stop $p1
  s2c_log trichat-pg-redis-1 "$work/trichat-8041.log"

  s2c_reset
  s2c_start 1
  p1=$s2c_pid
  s2c_start 2
  p2=$s2c_pid
  s2c_rooms 8041 s2c-pg2
  s2c_trichat trichat-pg-redis-2 "$p1,$p2" -url "$(s2c_url 8041)" \
    -url2 "$(s2c_url 8042)"
  s2c_metrics trichat-pg-redis-2/1 8041
  s2c_metrics trichat-pg-redis-2/2 8042
  s2c_stop $p1 $p2
  s2c_log trichat-pg-redis-2/1 "$work/trichat-8041.log"
  s2c_log trichat-pg-redis-2/2 "$work/trichat-8042.log"

  taskset -c 1 "$dir/.venv/bin/python" "$peer" 8003 2>/dev/null &
  p1=$!
  sleep 1
  s2c_load py-websockets $p1 -url 'ws://127.0.0.1:8003/ws?room={room}&user={user}'
  s2c_stop $p1

  echo "== s2c summary: $s2c_channels channels x $s2c_members members, every member a sender, $1 msg/s for $2"
  "$here/.venv/bin/python" "$here/bench/cpu_window.py" summary "$work/trichat-sqlite.json" \
    "$work/trichat-pg-redis-1.json" "$work/trichat-pg-redis-2.json" "$work/py-websockets.json"
}
