#!/usr/bin/env bash
# Schemathesis (from PyPI, in a virtual environment under target/) against `dps serve` on a
# temporary SQLite database with the admin token it creates; its default checks, bounded
# by .ci/schemathesis.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/schemathesis-venv
if [ ! -x "$venv/bin/schemathesis" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'schemathesis>=4.32,<5'
fi
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
target/debug/dps --targets "$work/dps-targets.toml" targets init >/dev/null
DPS_LOG=warn target/debug/dps --json --db "$work/dps.sqlite" --targets "$work/dps-targets.toml" \
    serve --listen 127.0.0.1:0 >"$work/serve.json" 2>"$work/serve.log" &
server=$!
for _ in $(seq 1 100); do
    [ -s "$work/serve.json" ] && break
    sleep 0.1
done
url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$work/serve.json")
token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$work/serve.json")
# Run in the temporary directory, where it keeps its cache.
root=$PWD
cd "$work"
"$root/$venv/bin/schemathesis" --config-file "$root/.ci/schemathesis.toml" run "$url/openapi.json" \
    --header "Authorization: Bearer $token" --workers 1 --no-color
