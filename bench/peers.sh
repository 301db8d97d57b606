#!/usr/bin/env bash
# Installs the optional peers of the reference benchmark, DuckDB and Polars (from PyPI, pinned),
# into a virtualenv kept across runs: ${FLICKER_TOOLS_DIR:-$HOME/.cache/flicker/tools}/bench-peers.
# `reference` (bench/run.sh) runs them, through bench/peers.py, whenever that virtualenv exists.
# Idempotent; a virtualenv of other versions is made anew.
# Usage: bench/peers.sh
set -euo pipefail
packages="duckdb==2.0.1 polars==2.1.0"
venv="${FLICKER_TOOLS_DIR:-$HOME/.cache/flicker/tools}/bench-peers"
# `.installed` names the pinned versions, so changing them here makes the virtualenv again.
if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$packages" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    # shellcheck disable=SC2086 # one word per package
    "$venv/bin/pip" install --quiet --disable-pip-version-check $packages
    echo "$packages" > "$venv/.installed"
fi
"$venv/bin/python" -c 'import duckdb, polars; print(f"duckdb {duckdb.__version__}, polars {polars.__version__} in '"$venv"'")'
