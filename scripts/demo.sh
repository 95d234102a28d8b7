#!/usr/bin/env bash
# Set up, then sync the trading calendar, the stock list and the last DEMO_DAYS trading days of daily
# bars, adjustment factors, daily indicators, suspensions and price limits into the embedded SQLite
# warehouse (./data), with
# Dagster's own storage in ./.dagster_home. Without TUSHARE_TOKEN it uses the bundled SYNTHETIC server.
# Quiet unless STOCK_PIPELINE_VERBOSE=1.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/.dagster_home}"
mkdir -p "$DAGSTER_HOME"
# The instance settings follow the repo's dagster.yaml (copied again when it changes).
[ "$DAGSTER_HOME/dagster.yaml" -nt dagster.yaml ] || cp dagster.yaml "$DAGSTER_HOME/dagster.yaml"
DEMO_DAYS="${DEMO_DAYS:-20}"
if [ -z "${STOCK_PIPELINE_VERBOSE:-}" ]; then
  # `dagster asset materialize` announces its successor on every call.
  export PYTHONWARNINGS="ignore:Function \`asset_materialize_command\` is superseded"
  log_config=()
else
  log_config=(--config-json '{"loggers": {"console": {"config": {"log_level": "DEBUG"}}}}')
fi

if [ -z "${TUSHARE_TOKEN:-}" ]; then
  server_log="$(mktemp)"
  python -m tushare_double --port 0 >"$server_log" 2>&1 &
  server_pid=$!
  trap 'kill $server_pid 2>/dev/null || true; rm -f "$server_log"' EXIT
  for _ in $(seq 100); do grep -q '^listening ' "$server_log" && break; sleep 0.1; done
  export TUSHARE_API_URL="$(sed -n 's/^listening //p' "$server_log")"
  export TUSHARE_TOKEN="synthetic-demo-token"
  echo "No TUSHARE_TOKEN set: syncing from the bundled server at $TUSHARE_API_URL."
  echo "Its data is SYNTHETIC (invented for the offline demo), not market data."
fi

dagster asset materialize -m stock_pipeline --select trade_cal,stock_basic "${log_config[@]}"
range="$(python -m stock_pipeline.demo recent-range --days "$DEMO_DAYS")"
dagster asset materialize -m stock_pipeline --select daily,adj_factor,daily_basic,suspend_d,stk_limit --partition-range "$range" "${log_config[@]}"
python -m stock_pipeline.demo summary
