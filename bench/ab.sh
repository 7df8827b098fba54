#!/usr/bin/env bash
# A/B in one sitting: an older commit's trichat and this checkout's, alternating,
# on the same bench/reference.sh scenario (its JSON lines, one pair per run).
# Both measured with the instrument in bench/kit (reference.sh builds it; SHARED_BENCH
# overrides, as for reference.sh).
#
#   bench/ab.sh REV RUNS SCENARIO [ARGS...]     e.g. bench/ab.sh 57b5d24 2 s2 2500 15s
#   AB_SCRIPT=join_cost.sh bench/ab.sh REV RUNS ARGS...    another bench script, the same way
#
# The old tree is a `git archive` of REV under a temporary folder, put first on
# PYTHONPATH (the editable install would otherwise win); the new tree is this one.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
rev=$1 runs=$2 script=$here/bench/${AB_SCRIPT:-reference.sh}
shift 2
old=$(mktemp -d)
trap 'rm -rf "$old"' EXIT
git -C "$here" archive "$rev" src migrations | tar -x -C "$old"
for i in $(seq 1 "$runs"); do
  for tree in old new; do
    echo "##### $* tree=$tree run=$i"
    if [ "$tree" = old ]; then
      PYTHONPATH="$old/src" "$script" "$@"
    else
      env -u PYTHONPATH "$script" "$@"
    fi
  done
done
