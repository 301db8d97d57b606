#!/usr/bin/env bash
# The benchmark suite: records/s across the host/guest boundary by batch size; the reference job on
# generated lines (default 10M) with native single-threaded Rust, `flicker run`, and `flicker
# submit` to a loopback cluster of three executors; then shuffle fetch throughput from a BTS next
# to plain loopback TCP (default 512 MiB per map output).
# Also: how long creating an operator instance of a cached component takes, and scheduler
# throughput on 10,000 tiny tasks (bench/scheduler.sh).
# Usage: bench/run.sh [ROWS] [RUNS] [MIB_PER_MAP_OUTPUT]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --locked -p flicker -p flicker-bench
target=${CARGO_TARGET_DIR:-target}
"$target/release/boundary"
echo
"$target/release/instantiate"
echo
"$target/release/reference" "${1:-10000000}" "${2:-3}"
echo
"$target/release/bts" "${3:-512}" "${2:-3}"
echo
bench/scheduler.sh 10000 "${2:-3}"
