# Sourced by bench/reference.sh and bench/cluster_env.sh (after `here` is set): a
# venv (made on a fresh clone), open-file limit raised, a work folder removed on exit
# with every job started, and trichat's settings for a load run.
[ -x "$here/.venv/bin/trichat" ] || "$here/scripts/bootstrap"  # a fresh clone
ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export TRICHAT_DATA_DIR=$work/data TRICHAT_MAX_CONNECTIONS=100000 \
  TRICHAT_MAX_CONNECTIONS_PER_USER=100000 TRICHAT_RATE_LIMIT_PER_MINUTE=1000000 \
  TRICHAT_HISTORY_ON_JOIN=0 TRICHAT_JWT_SECRET=bench-secret-bench-secret-bench-secret \
  TRICHAT_LOG_LEVEL=warning
