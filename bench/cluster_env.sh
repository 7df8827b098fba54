# Sourced by the bench scripts built on s2c's load (bench/receive_cost.sh,
# bench/one_instance.sh, bench/join_cost.sh), after `here` is set: wsload built
# under ${BENCH_DIR:-/tmp/trichat-bench} (no peer server: they measure trichat
# alone), bench/bench_env.sh's settings and bench/reference_cluster.sh's helpers.
dir=${BENCH_DIR:-/tmp/trichat-bench}
BENCH_DIR=$dir "$here/bench/kit/build.sh" --no-peer >/dev/null
. "$here/bench/bench_env.sh"
. "$here/bench/reference_cluster.sh"
