#!/usr/bin/env bash
# Build the reference instrument (README.md here) outside the source tree, under
# ${BENCH_DIR:-/tmp/trichat-bench}: bin/wsload (Go, GOPATH mode against Debian's
# gorilla/websocket: no Go module proxy) and .venv with websockets==17.4 for the
# Python websockets peer server (servers/py/ws_asyncio.py, run from here).
# Installs golang-go and golang-github-gorilla-websocket-dev when missing (needs root
# or sudo; scripts/system-deps installs them too). Idempotent; quiet when up to date.
#
#   bench/kit/build.sh             wsload and the peer server's venv
#   bench/kit/build.sh --no-peer   wsload only
set -euo pipefail
kit=$(cd "$(dirname "$0")" && pwd)
dir=${BENCH_DIR:-/tmp/trichat-bench}
gopath=/usr/share/gocode
missing=()
command -v go >/dev/null || missing+=(golang-go)
[ -d "$gopath/src/github.com/gorilla/websocket" ] || missing+=(golang-github-gorilla-websocket-dev)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "bench/kit/build.sh: please install: ${missing[*]} (apt-get install ${missing[*]})" >&2
    exit 1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
mkdir -p "$dir/bin"
(cd "$kit" && GO111MODULE=off GOPATH=$gopath GOFLAGS='' go build -o "$dir/bin/wsload" ./loadgen)
[ "${1:-}" = "--no-peer" ] && exit 0
stamp=$dir/.venv/.installed-kit
if [ ! -f "$stamp" ] || [ "$kit/requirements.txt" -nt "$stamp" ]; then
  [ -x "$dir/.venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$dir/.venv"
  "$dir/.venv/bin/python" -m pip install --quiet -r "$kit/requirements.txt"
  touch "$stamp"
fi
