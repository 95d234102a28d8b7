#!/usr/bin/env bash
# Regenerate the README's pictures (docs/images/*.png) from a fresh offline demo: runs scripts/demo.sh into
# a temporary DAGSTER_HOME and warehouse, opens the UI with scripts/ui.sh and photographs it in Debian's
# chromium (apt-get install -y chromium), then deletes the temporary demo. Takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
[ -x /usr/bin/chromium ] || { echo "The pictures need Debian's chromium: apt-get install -y chromium" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The pictures show the offline demo whatever this shell is set up for.
unset TUSHARE_TOKEN TUSHARE_API_URL STOCK_PIPELINE_DB_URL
export DAGSTER_HOME="$work/dagster_home" STOCK_PIPELINE_DATA_DIR="$work/data"
bash scripts/demo.sh
PYTHONPATH="$PWD" python scripts/screenshots.py docs/images
