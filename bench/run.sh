#!/usr/bin/env bash
# The benchmark suite: records/s across the host/guest boundary by batch size, then the reference
# job on generated lines (default 10M) with `flicker run` next to native single-threaded Rust.
# Usage: bench/run.sh [ROWS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --locked -p flicker -p flicker-bench
target=${CARGO_TARGET_DIR:-target}
"$target/release/boundary"
echo
"$target/release/reference" "${1:-10000000}" "${2:-3}"
