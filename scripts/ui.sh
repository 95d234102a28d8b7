#!/usr/bin/env bash
# Open the Dagster UI on the demo's data, offline: http://127.0.0.1:3000 (UI_PORT=3001 for another port).
# Runs scripts/demo.sh first when there is no demo yet. Like the demo, without TUSHARE_TOKEN it starts
# the bundled server with SYNTHETIC data and points the runs launched from the UI at it; the server
# stops when the UI stops (Ctrl-C). Quiet unless STOCK_PIPELINE_VERBOSE=1.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

# The demo's settings: Dagster's storage in ./.dagster_home, the SQLite warehouse in ./data.
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/.dagster_home}"
export STOCK_PIPELINE_DATA_DIR="${STOCK_PIPELINE_DATA_DIR:-$PWD/data}"
if [ ! -f "$DAGSTER_HOME/dagster.yaml" ] \
  || { [ -z "${STOCK_PIPELINE_DB_URL:-}" ] && [ ! -f "$STOCK_PIPELINE_DATA_DIR/warehouse.db" ]; }; then
  echo "No demo in $DAGSTER_HOME yet: running scripts/demo.sh first."
  bash scripts/demo.sh
fi
DAGSTER_HOME="$(cd "$DAGSTER_HOME" && pwd)"
# The instance settings follow the repo's dagster.yaml, as in the demo.
[ "$DAGSTER_HOME/dagster.yaml" -nt dagster.yaml ] || cp dagster.yaml "$DAGSTER_HOME/dagster.yaml"
if [ -z "${STOCK_PIPELINE_VERBOSE:-}" ]; then
  # `dagster dev` announces its successor on every start.
  export PYTHONWARNINGS="ignore:Function \`dev_command\` is superseded"
fi

if [ -z "${TUSHARE_TOKEN:-}" ]; then
  server_log="$(mktemp)"
  python -m tushare_double --port 0 >"$server_log" 2>&1 &
  server_pid=$!
  trap 'kill $server_pid 2>/dev/null || true; rm -f "$server_log"' EXIT
  for _ in $(seq 100); do grep -q '^listening ' "$server_log" && break; sleep 0.1; done
  TUSHARE_API_URL="$(sed -n 's/^listening //p' "$server_log")"
  [ -n "$TUSHARE_API_URL" ] || { cat "$server_log" >&2; echo "The bundled Tushare server did not start" >&2; exit 1; }
  export TUSHARE_API_URL
  export TUSHARE_TOKEN="synthetic-demo-token"
  echo "Runs launched from the UI sync from the bundled server at $TUSHARE_API_URL (SYNTHETIC data)."
fi

repo="$PWD"
echo "Dagster storage: $DAGSTER_HOME; warehouse: ${STOCK_PIPELINE_DB_URL:-sqlite:///$STOCK_PIPELINE_DATA_DIR/warehouse.db}"
echo "Open http://127.0.0.1:${UI_PORT:-3000} (Ctrl-C stops the UI and the server)."
# From inside DAGSTER_HOME: `dagster dev` warns about any dagster.yaml in its working folder that is not
# DAGSTER_HOME's, and the repo root holds the template the demo copied.
cd "$DAGSTER_HOME"
dagster dev -h 127.0.0.1 -p "${UI_PORT:-3000}" -w "$repo/workspace.yaml"
