#!/usr/bin/env bash
# Set up, make sure PostgreSQL and RabbitMQ are running and chromium is installed, lint, and run the whole
# test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

pg_ready() { python - <<'PY'
import sys, psycopg2
try:
    psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test", connect_timeout=3).close()
except Exception as error:
    sys.exit(str(error))
PY
}
if ! pg_ready 2>/dev/null; then
  echo "PostgreSQL is not running; starting it"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
  for _ in $(seq 30); do pg_ready 2>/dev/null && break; sleep 1; done
  pg_ready || { echo "PostgreSQL on 127.0.0.1:5432 is required for the tests" >&2; exit 1; }
fi
export STOCK_PIPELINE_REQUIRE_POSTGRES=1

# The Celery scale-out test runs its steps on workers through this RabbitMQ.
amqp_ready() { python - <<'PY'
import sys, kombu
try:
    with kombu.Connection("amqp://guest:guest@127.0.0.1:5672//", connect_timeout=3) as conn:
        conn.ensure_connection(max_retries=1)
except Exception as error:
    sys.exit(str(error))
PY
}
if ! amqp_ready 2>/dev/null; then
  echo "RabbitMQ is not running; starting it"
  if ! command -v rabbitmq-server >/dev/null; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null; } \
      || { echo "apt-get install -y rabbitmq-server failed: test_celery.py needs RabbitMQ" >&2; exit 1; }
  fi
  rabbitmq-server -detached || true
  for _ in $(seq 60); do amqp_ready 2>/dev/null && break; sleep 1; done
  amqp_ready || { echo "RabbitMQ on 127.0.0.1:5672 is required for the tests (test_celery.py)" >&2; exit 1; }
fi

# The browser tests drive Debian's chromium (a browser download is impossible here); they fail without it.
if [ ! -x /usr/bin/chromium ]; then
  echo "chromium is not installed; installing it with apt-get"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
    || { echo "apt-get install -y chromium failed: the browser tests need /usr/bin/chromium" >&2; exit 1; }
fi

ruff check .
# Most tests wait on real processes (servers, the Dagster CLI, the daemon): three workers keep two cores
# busy. Whole files go to one worker so that module-scoped deployments are started once.
python -m pytest -q -n 3 --dist loadfile "$@"
