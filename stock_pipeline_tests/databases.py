"""Throwaway databases for tests and benchmarks. Importing this module changes no environment (conftest does)."""

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

POSTGRES_ADMIN_URL = os.environ.get("STOCK_PIPELINE_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


@contextlib.contextmanager
def fresh_postgres_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A new PostgreSQL database named `<prefix>_<random>`, dropped on exit; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@contextlib.contextmanager
def fresh_warehouse_url(backend: str, workdir: Path, prefix: str) -> Iterator[str]:
    """A new, empty warehouse: a SQLite file in `workdir`, or a PostgreSQL database dropped on exit."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / f'{prefix}-{uuid.uuid4().hex[:6]}.db'}"
        return
    with fresh_postgres_database(POSTGRES_ADMIN_URL, prefix) as url:
        yield url
