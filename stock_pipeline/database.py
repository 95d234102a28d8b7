"""SQLAlchemy engines for the warehouse and the shared call budget, set up the same way everywhere."""

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url


class DatabaseConfigError(ValueError):
    """The database URL cannot be used; the message says why and how to fix it."""


def create_engine(url: str) -> sa.Engine:
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as error:
        raise DatabaseConfigError(
            f"Cannot parse database URL {url!r}: {error}. Expected a SQLAlchemy URL such as "
            "'sqlite:///data/warehouse.db' or 'postgresql://user@host:5432/dbname'."
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseConfigError(
            f"Unsupported database {parsed.get_backend_name()!r} in {parsed.render_as_string()}: "
            "the warehouse runs on SQLite or PostgreSQL."
        )
    if parsed.get_backend_name() == "sqlite":
        return _create_sqlite_engine(parsed)
    if parsed.drivername == "postgresql":
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; the bulk path uses psycopg2's COPY.
        parsed = parsed.set(drivername="postgresql+psycopg2")
    try:
        return sa.create_engine(parsed, pool_pre_ping=True)
    except ModuleNotFoundError as error:
        raise DatabaseConfigError(f"Missing database driver for {parsed.render_as_string()}: {error}") from None


def _create_sqlite_engine(url: sa.URL) -> sa.Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)

    @sa.event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record):
        # Let SQLAlchemy issue BEGIN itself (pysqlite's implicit transactions defer it), and wait for
        # other writers instead of failing with "database is locked".
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection):
        # IMMEDIATE takes the write lock up front: two writers can never deadlock upgrading read locks.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def is_postgres(engine: sa.Engine) -> bool:
    return engine.dialect.name == "postgresql"


def lock_schema(conn: sa.Connection) -> None:
    """Serialise schema changes across processes for the rest of the transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": 0x5707C9})


def ensure_tables(engine: sa.Engine, metadata: sa.MetaData) -> None:
    """Create missing tables; safe when several processes start at once."""
    with engine.begin() as conn:
        lock_schema(conn)
        metadata.create_all(conn)
