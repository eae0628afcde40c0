#!/usr/bin/env bash
# Install the headless browser the web-page test drives: Debian's chromium + chromium-driver.
# Idempotent: does nothing when both are present. Without root + apt-get it prints what to
# install and exits 1 (so `make test` stops instead of silently skipping the browser test).
set -euo pipefail

CHROMIUM=/usr/bin/chromium
DRIVER=/usr/bin/chromedriver

if [ -x "$CHROMIUM" ] && [ -x "$DRIVER" ]; then
    echo "install-browser: chromium and chromedriver already installed"
    exit 0
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: installing chromium and chromium-driver with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y chromium chromium-driver
    if [ -x "$CHROMIUM" ] && [ -x "$DRIVER" ]; then
        "$CHROMIUM" --version || true
        exit 0
    fi
    echo "install-browser: apt-get finished but $CHROMIUM or $DRIVER is still missing" >&2
    exit 1
fi

cat >&2 <<MSG
install-browser: $CHROMIUM and/or $DRIVER are missing and this script cannot install them
(it needs root and apt-get). Install them yourself, e.g. on Debian/Ubuntu:
    sudo apt-get update && sudo apt-get install -y chromium chromium-driver
The web-page test (tests/server/test_web.py) needs both.
MSG
exit 1
