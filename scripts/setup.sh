#!/usr/bin/env bash
# Installs what building and testing flicker needs beyond the Rust toolchain: the wasm32-wasip2
# target, moto (an S3 server from PyPI, which the storage tests start), openapi-spec-validator
# (which checks the HTTP API's OpenAPI document) and componentize-py (which builds operators
# written in Python into components), each in a virtualenv kept across runs, and componentize-qjs
# (operators written in JavaScript) from npm.
# Idempotent. Source it (`. scripts/setup.sh`) to get FLICKER_MOTO_SERVER,
# FLICKER_OPENAPI_VALIDATOR, FLICKER_COMPONENTIZE_PY and FLICKER_COMPONENTIZE_QJS set.
set -euo pipefail
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi

# Installs the pinned PyPI requirement $2 into a virtualenv named $1 kept across runs; prints
# the virtualenv's directory.
python_tool() {
    local venv="${FLICKER_TOOLS_DIR:-$HOME/.cache/flicker/tools}/$1"
    if [ ! -f "$venv/.installed" ]; then
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check "$2"
        touch "$venv/.installed"
    fi
    echo "$venv"
}
FLICKER_MOTO_SERVER="$(python_tool moto-5.2.5 "moto[server]==5.2.5")/bin/moto_server"
FLICKER_OPENAPI_VALIDATOR="$(python_tool openapi-spec-validator-0.9.0 openapi-spec-validator==0.9.0)/bin/openapi-spec-validator"
FLICKER_COMPONENTIZE_PY="$(python_tool componentize-py-0.25.1 componentize-py==0.25.1)/bin/componentize-py"

# componentize-qjs (which builds operators written in JavaScript), from npm with the versions of
# scripts/js-tools/package-lock.json (`npm ci`), in a folder named after the lock file's hash.
js_tools() {
    local tools
    tools="$(dirname "${BASH_SOURCE[0]}")/js-tools"
    local lock="$tools/package-lock.json"
    local dir="${FLICKER_TOOLS_DIR:-$HOME/.cache/flicker/tools}/js-tools-$(sha256sum "$lock" | cut -c1-16)"
    if [ ! -f "$dir/.installed" ]; then
        rm -rf "$dir"
        mkdir -p "$dir"
        cp "$tools/package.json" "$lock" "$dir/"
        (cd "$dir" && npm ci --silent --no-audit --no-fund >/dev/null)
        touch "$dir/.installed"
    fi
    echo "$dir"
}
FLICKER_COMPONENTIZE_QJS="$(js_tools)/node_modules/.bin/componentize-qjs"
export FLICKER_MOTO_SERVER FLICKER_OPENAPI_VALIDATOR FLICKER_COMPONENTIZE_PY FLICKER_COMPONENTIZE_QJS

# Headless Chromium and its WebDriver server, for the browser test of the web UI
# (tests/all/web_ui.rs), from Debian's packages.
if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi
chromium --version 2>/dev/null
chromedriver --version
export FLICKER_CHROMEDRIVER="$(command -v chromedriver)"
