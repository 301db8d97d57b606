#!/usr/bin/env bash
# The benchmark suite: records/s across the host/guest boundary by batch size, and the reference
# job's operators (its fused parse-and-aggregate kernel among them) in the sandbox and natively; the reference job
# (`std:max`, and `std:stats`: count, min, mean, max per station) on generated lines (default 10M
# and 50M, generated once into bench/data) with native single-threaded Rust, `flicker run`,
# `flicker submit` to a loopback cluster of three executors, and DuckDB and Polars when
# bench/peers.sh has installed them (they use every core, native one), each result checked against
# native's; joins on the first of those files (`join`: the readings joined with their stations
# table, max per country; the readings semi-joined with those above 20 °C, count per station) with
# `flicker run`, the loopback cluster and the peers, each result checked against `flicker run`'s;
# then shuffle fetch throughput from a BTS next to plain loopback TCP (default 512 MiB per map
# output).
# Also: what metering operator calls costs (the reference job's operators on 20M lines with no
# meter, the thread's CPU time, and wasmtime fuel); how long creating an operator instance of a
# cached component takes, what recording metrics costs (with no recorder and with the Prometheus
# one), and scheduler
# throughput on 10,000 tiny tasks with `flicker run` and on a loopback cluster of four executors
# (`reference scheduler`); last, many keys under a memory budget (60M lines of 25M stations, the
# aggregate limited to 256 MiB: native against `flicker run`); and operators in Rust, Python and
# JavaScript side by side (`languages`).
# Usage: bench/run.sh [LINES[,LINES...]] [RUNS] [MIB_PER_MAP_OUTPUT]
#   e.g. bench/run.sh 1000000,5000000 3   (defaults: 10000000,50000000, 3 runs, 512 MiB)
set -euo pipefail
cd "$(dirname "$0")/.."
. ./scripts/setup.sh
cargo build --release --locked -p flicker -p flicker-bench
target=${CARGO_TARGET_DIR:-target}
"$target/release/boundary"
echo
"$target/release/instantiate"
echo
"$target/release/meter" 20000000 5
echo
"$target/release/metrics"
echo
lines=${1:-10000000,50000000}
"$target/release/reference" "$lines" "${2:-3}"
echo
"$target/release/join" "${lines%%,*}" "${2:-3}"
echo
"$target/release/bts" "${3:-512}" "${2:-3}"
echo
"$target/release/reference" scheduler 10000 "${2:-3}"
echo
# Many keys under a memory budget: 60M lines of 25M stations, the aggregate limited to 256 MiB.
"$target/release/reference" keys 25000000 60000000 1 256MiB
echo
# Operators in Rust, Python and JavaScript: sizes, compile, instances, map rows/s, the reference
# job with each language's aggregate on 2M lines, the edit → result loop.
"$target/release/languages" 2000000 "${2:-3}"
