#!/usr/bin/env bash
# Scheduler throughput: the reference job over TASKS splits of about one line (default 10,000 map
# tasks plus 4 reduce tasks) with `flicker run --workers 4`, RUNS times; prints tasks/s and time per task.
# Usage: bench/scheduler.sh [TASKS] [RUNS]   (after `cargo build --release --bin flicker`)
set -euo pipefail
cd "$(dirname "$0")/.."
flicker="${CARGO_TARGET_DIR:-target}/release/flicker"
tasks=${1:-10000}
runs=${2:-3}
dir=bench/data/scheduler-$tasks
mkdir -p "$dir"
"$flicker" gen weather --rows "$tasks" --stations 50 --out "$dir/data/readings.txt" 2>/dev/null
# Splits of the average line's length: TASKS map tasks of about one line each.
size=$(stat -c %s "$dir/data/readings.txt")
split=$(( (size + tasks - 1) / tasks ))
sed -e "s|url = \"data/\" .*|url = \"data/\"\nsplit_size = $split|" examples/max-temperature/job.toml > "$dir/job.toml"
echo "scheduler throughput: the reference job over $tasks lines in $split-byte splits, flicker run --workers 4"
for run in $(seq 1 "$runs"); do
    summary=$("$flicker" run "$dir/job.toml" --workers 4)
    echo "$summary" | awk -v run="$run" '
        /succeeded in/ { for (i = 1; i <= NF; i++) if ($i == "in") wall = $(i + 1) }
        /stages .* tasks/ { tasks = $4; sub(",", "", tasks) }
        END { printf "run %d: %d tasks in %.2f s: %.0f tasks/s, %.2f ms per task\n", run, tasks, wall, tasks / wall, 1000 * wall / tasks }'
done
