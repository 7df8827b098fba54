#!/usr/bin/env bash
# Run `trichat bench` against N trichat instances sharing PostgreSQL and Redis.
#
#   bench/cluster.sh N [trichat bench flags...]
#   bench/cluster.sh 3 --channels 300 --members 6 --senders 6 --rate 200 --duration 10s
#
# Uses the machine's PostgreSQL (PG_URL, default postgresql://postgres@127.0.0.1:5432)
# and Redis (REDIS, default redis://127.0.0.1:6379/0): it DROPS and recreates the
# database `trichat_cluster_bench` and FLUSHES that Redis database. Instances listen on
# 8021.., pinned to CPU 1; the generator runs on CPU 0. Afterwards it prints each
# instance's gap fills and CPU time (`ps`).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
n=${1:?usage: bench/cluster.sh N [trichat bench flags...]}; shift
pg=${PG_URL:-postgresql://postgres@127.0.0.1:5432}
db=trichat_cluster_bench
ulimit -n "$(ulimit -Hn)"
psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
export REDIS_URL=${REDIS:-redis://127.0.0.1:6379/0}
redis-cli -u "$REDIS_URL" flushdb >/dev/null
export DATABASE_URL=$pg/$db TRICHAT_MAX_CONNECTIONS=100000 \
  TRICHAT_MAX_CONNECTIONS_PER_USER=100000 TRICHAT_RATE_LIMIT_PER_MINUTE=1000000 \
  TRICHAT_HISTORY_ON_JOIN=0 TRICHAT_JWT_SECRET=bench-secret-bench-secret-bench-secret \
  TRICHAT_LOG_LEVEL=warning
urls=() pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
for i in $(seq 1 "$n"); do
  port=$((8020 + i))
  TRICHAT_INSTANCE_ID=bench$i taskset -c 1 "$here/.venv/bin/trichat" run --port $port \
    2>"/tmp/trichat-cluster-$i.log" &
  pids+=($!) urls+=("http://127.0.0.1:$port")
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/api/v1/chat/health" >/dev/null && break; sleep 0.2; done
done
taskset -c 0 "$here/.venv/bin/trichat" bench "${urls[@]}" --secret "$TRICHAT_JWT_SECRET" \
  --processes 1 --quiet "$@" || true
for i in $(seq 1 "$n"); do
  curl -s "http://127.0.0.1:$((8020 + i))/metrics" | grep '^trichat_gap_fills_total' | sed "s/^/instance $i: /"
done
ps -o pid,time,rss,args -p "$(IFS=,; echo "${pids[*]}")" | cut -c1-70
