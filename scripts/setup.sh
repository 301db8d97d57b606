#!/usr/bin/env bash
# Installs what building and testing flicker needs beyond the Rust toolchain: the wasm32-wasip2
# target, moto (an S3 server from PyPI, which the storage tests start) and openapi-spec-validator
# (which checks the HTTP API's OpenAPI document), each in a virtualenv kept across runs.
# Idempotent. Source it (`. scripts/setup.sh`) to get FLICKER_MOTO_SERVER and
# FLICKER_OPENAPI_VALIDATOR set.
set -euo pipefail
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi

moto_version=5.2.5
moto_venv="${FLICKER_TOOLS_DIR:-$HOME/.cache/flicker/tools}/moto-$moto_version"
if [ ! -f "$moto_venv/.installed" ]; then
    rm -rf "$moto_venv"
    python3 -m venv "$moto_venv"
    "$moto_venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$moto_version"
    touch "$moto_venv/.installed"
fi
export FLICKER_MOTO_SERVER="$moto_venv/bin/moto_server"

validator_version=0.9.0
validator_venv="${FLICKER_TOOLS_DIR:-$HOME/.cache/flicker/tools}/openapi-spec-validator-$validator_version"
if [ ! -f "$validator_venv/.installed" ]; then
    rm -rf "$validator_venv"
    python3 -m venv "$validator_venv"
    "$validator_venv/bin/pip" install --quiet --disable-pip-version-check "openapi-spec-validator==$validator_version"
    touch "$validator_venv/.installed"
fi
export FLICKER_OPENAPI_VALIDATOR="$validator_venv/bin/openapi-spec-validator"

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
