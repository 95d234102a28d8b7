"""Importing the package has no side effects: no module opens a database connection."""

import subprocess
import sys
import time

from stock_pipeline_tests.cli import REPO

# Counts every attempt to connect to PostgreSQL or SQLite, then imports every module of the package.
IMPORT_EVERY_MODULE = """
import pkgutil, importlib, sqlite3, psycopg2
attempts = []
real_pg, real_sqlite = psycopg2.connect, sqlite3.connect
psycopg2.connect = lambda *a, **k: attempts.append("postgresql") or real_pg(*a, **k)
sqlite3.connect = lambda *a, **k: attempts.append("sqlite") or real_sqlite(*a, **k)
import stock_pipeline
names = [m.name for m in pkgutil.walk_packages(stock_pipeline.__path__, "stock_pipeline.")]
for name in names:
    importlib.import_module(name)
print(len(names), attempts)
"""


def test_importing_every_module_touches_no_database(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "STOCK_PIPELINE_DB_URL": "postgresql://nobody@127.0.0.1:1/none",
        "STOCK_PIPELINE_DATA_DIR": str(tmp_path),
        "DAGSTER_HOME": str(tmp_path),
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_MODULE], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    elapsed = time.monotonic() - started

    assert done.returncode == 0, done.stderr[-3000:]
    count, attempts = done.stdout.split(" ", 1)
    assert int(count) >= 20 and attempts.strip() == "[]"
    assert "warehouse" not in done.stderr.lower()  # no "calendar unavailable" warning either
    assert elapsed < 30
