#!/usr/bin/env bash
# Runs every test of the project: unit tests of each crate, the guest-side crates' tests natively,
# and the end-to-end tests in tests/ (real processes, real wasmtime sandboxes, real files).
# One build profile (release) serves the binary and the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. ./scripts/setup.sh
python3 -m unittest discover -s guest-sdk/python/tests
node --test guest-sdk/js/test/
cargo test --release --locked
