#!/usr/bin/env bash
# Autobahn|Testsuite's fuzzing client against a throwaway trichat (docs/conformance.md).
#
#   bench/conformance/run.sh              the whole suite (517 cases), then the large-limit pass
#   bench/conformance/run.sh '5.*' 7.1.1  only these cases (ids or globs), no second pass
#
# The suite is kosoku (PyPI), which runs Autobahn|Testsuite's own case files under
# Python 3: Autobahn's wstest needs Python 2.7, which Debian 12 no longer has. It is
# installed into its own virtualenv, bench/conformance/.venv (never the project's
# .venv, which only provides `trichat`). Each pass starts `trichat run` on
# 127.0.0.1, a free port and a temporary data dir, mints a token, runs the cases
# against ws://127.0.0.1:PORT/ws?token=..., and stops the server:
#   default      default settings (MAX_FRAME_BYTES 4096)
#   large-limit  --max-frame-bytes 32 MiB, over the text cases that default closes
#                with 1009: shows those messages parse and are answered like any other
# Raw reports (HTML + JSON, ~11 MB) go to $OUT (default bench/conformance/out,
# git-ignored): OUT/default/index.html, OUT/large-limit/..., and the grouped summary
# OUT/summary.md (+ summary.json) from summarize.py. Exit status: 0 when every case
# is passed or explained, 1 when summarize.py finds an unexplained one, 2 on a setup
# error. Loopback only; each pass is bounded by $PASS_TIMEOUT seconds (default 600).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
env_dir=${CONFORMANCE_ENV:-$here/.venv}
out=${OUT:-$here/out}
parallel=${PARALLEL:-4}
pass_timeout=${PASS_TIMEOUT:-600}
kosoku_version=$(sed -n 's/^kosoku==//p' "$here/requirements.txt")

die() { echo "run.sh: $*" >&2; exit 2; }

# 1. the suite's own environment, rebuilt when missing or not the pinned version
if ! "$env_dir/bin/python" -c "import importlib.metadata as m, sys
sys.exit(m.version('kosoku') != '$kosoku_version')" 2>/dev/null; then
  echo "== installing kosoku==$kosoku_version into $env_dir"
  rm -rf "$env_dir"
  python3 -m venv "$env_dir"
  "$env_dir/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "$here/requirements.txt"
fi
kosoku=$env_dir/bin/kosoku

# 2. trichat itself, from the project's .venv
[ -x "$root/.venv/bin/trichat" ] || "$root/scripts/bootstrap"
trichat=$root/.venv/bin/trichat

work=$(mktemp -d "${TMPDIR:-/tmp}/trichat-conformance.XXXXXX")
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    # it drains for up to TRICHAT_SHUTDOWN_GRACE (set to 2 s below); then insist
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
trap 'stop_server; rm -rf "$work"' EXIT

# run_pass NAME [trichat flags...] -- [case globs...]
run_pass() {
  local name=$1 data=$work/$1 log=$work/$1.log port="" token rc=0
  shift
  local flags=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do flags+=("$1"); shift; done
  shift
  local cases=()
  for c in "$@"; do cases+=(-i "$c"); done

  TRICHAT_SHUTDOWN_GRACE=2 "$trichat" run --host 127.0.0.1 --port 0 --data-dir "$data" \
    ${flags[@]+"${flags[@]}"} >"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 200); do  # up to 20 s
    port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$log" | head -1)
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; die "trichat did not start"; }
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$log" >&2; die "trichat did not say its port within 20 s"; }
  token=$("$trichat" token fuzz --data-dir "$data" --ttl 1h)

  echo "== $name: ${*:-the whole suite} against ws://127.0.0.1:$port/ws ${flags[*]-}"
  rm -rf "${out:?}/$name"
  # kosoku exits 1 when any case did not pass: expected here, summarize.py judges
  timeout "$pass_timeout" "$kosoku" -p "$parallel" ${cases[@]+"${cases[@]}"} -o "$out/$name" \
    "ws://127.0.0.1:$port/ws?token=$token" >"$out/$name.kosoku.log" 2>&1 || rc=$?
  stop_server
  cp "$log" "$out/$name.trichat.log"
  [ "$rc" -le 1 ] || { tail -20 "$out/$name.kosoku.log" >&2; die "kosoku exited $rc"; }
  [ -f "$out/$name/index.json" ] || die "kosoku wrote no report for $name"
  tail -1 "$out/$name.kosoku.log"
}

mkdir -p "$out"
{
  echo "suite: kosoku $kosoku_version (Autobahn|Testsuite 25.10.1 case files)"
  echo "trichat: $(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)"
  echo "python: $("$env_dir/bin/python" -V 2>&1)"
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$out/versions.txt"

start=$SECONDS
if [ $# -gt 0 ]; then
  rm -rf "$out/large-limit" "$out"/large-limit.*
  run_pass default -- "$@"
else
  run_pass default --
  # the text cases whose messages exceed the default 4096 bytes (binary ones stay 1003)
  run_pass large-limit --max-frame-bytes 33554432 -- \
    1.1.6 1.1.7 1.1.8 '9.1.*' '9.3.*' '9.5.*' 10.1.1
fi
echo "== summary ($((SECONDS - start)) s; raw reports: $out/default/index.html)"
"$env_dir/bin/python" "$here/summarize.py" "$out"
