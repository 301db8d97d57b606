#!/usr/bin/env bash
# Installs what building flicker needs beyond the Rust toolchain: the wasm32-wasip2 target.
# Idempotent; sourced by the other scripts.
set -euo pipefail
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi
