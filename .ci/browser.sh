#!/usr/bin/env bash
# The console's browser tests: Debian's Chromium (installed when missing), playwright-core and
# axe-core from npm, against `dps serve` on a temporary SQLite database.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
    echo "installing Debian's chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

modules=target/browser
mkdir -p "$modules"
cp crates/dps-cli/tests/browser/package.json "$modules/package.json"
(cd "$modules" && npm install --no-audit --no-fund --silent)

cargo build -q -p dps-cli
DPS_BIN="$PWD/target/debug/dps" \
DPS_BROWSER_MODULES="$PWD/$modules/node_modules" \
DPS_BROWSER_OUT="$PWD/target/browser/screenshots" \
    node crates/dps-cli/tests/browser/console.mjs
