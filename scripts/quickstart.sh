#!/usr/bin/env bash
# Sets up a fresh machine, builds target/release/flicker (with the standard operators embedded),
# runs the reference job on the checked-in sample and prints the maximum temperature per station.
set -euo pipefail
cd "$(dirname "$0")/.."
. ./scripts/setup.sh
cargo build --release --locked --bin flicker
job=examples/max-temperature
"${CARGO_TARGET_DIR:-target}/release/flicker" run "$job/job.toml"
echo
echo "Maximum temperature per station ($job/out/):"
# _SUCCESS lists the committed parts, one "name<TAB>size" per line; each part starts with a header.
first=1
while IFS=$'\t' read -r part _size; do
    if [ "$first" = 1 ]; then head -n 1 "$job/out/$part"; first=0; fi
    tail -n +2 "$job/out/$part"
done < "$job/out/_SUCCESS" | { read -r header; echo "$header"; sort; }
