"""What both exports share: opening the warehouse read-only, one-line errors, the manifest that marks a
folder as an export, and replacing a folder whole."""

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from stock_pipeline import settings
from stock_pipeline.database import DatabaseConfigError
from stock_pipeline.datasets import DAILY, STOCK_BASIC, TRADE_CAL
from stock_pipeline.warehouse import Warehouse

# Written last into every export folder; a folder without it is never overwritten.
MANIFEST = ".stock_pipeline_export.json"


class ExportError(Exception):
    """Bad input or data that must not be exported; the message is one line saying what and how to fix it."""


def open_warehouse(db_url: str | None) -> Warehouse:
    """The warehouse at `db_url` (default: the configured one), read as it is: nothing is created, so a
    wrong path or an unsynced database is an error, not an empty export."""
    url = db_url or settings.db_url()
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise ExportError(f"cannot parse database URL {url!r} (expected e.g. sqlite:///data/warehouse.db)") from None
    shown = parsed.render_as_string(hide_password=True)
    on_disk = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
    if on_disk and not Path(parsed.database).is_file():
        raise ExportError(f"no warehouse at {parsed.database}: sync it first or pass --db-url")
    try:
        warehouse = Warehouse(url)
        with warehouse.engine.connect() as conn:
            inspector = sa.inspect(conn)
            lacking = [
                name
                for name in (TRADE_CAL.api_name, STOCK_BASIC.api_name, DAILY.api_name)
                if not inspector.has_table(name)
            ]
    except DatabaseConfigError as error:
        raise ExportError(str(error)) from None
    except sa.exc.SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise ExportError(f"cannot read the warehouse at {shown}: {reason}") from None
    if lacking:
        warehouse.dispose()
        raise ExportError(f"{shown} is not a stock_pipeline warehouse (no table {', '.join(lacking)}): sync it first")
    return warehouse


def read_manifest(out: Path, kind: str) -> dict | None:
    """The manifest of an earlier export of `kind` in `out`; None for a missing or empty folder. A folder
    holding anything else is refused: an export never overwrites files it did not write."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return None
    manifest_path = out / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("kind") != kind:
        raise ExportError(
            f"{out} exists and is not a {kind} export written by stock_pipeline: choose a new or empty folder"
        )
    return manifest


def write_manifest(out: Path, kind: str, **facts) -> None:
    write_text_atomically(
        out / MANIFEST, json.dumps({"kind": kind, "exported_at": datetime.now(UTC).isoformat(), **facts}, indent=1)
    )


def write_text_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never a part of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


@contextlib.contextmanager
def replacing_folder(out: Path) -> Iterator[Path]:
    """A staging folder beside `out` that replaces it when the block succeeds and is removed when it fails,
    so `out` is always the previous export or the new one, never a half-written one. (Between the two
    renames `out` is briefly absent; a reader then finds no files rather than a mix.)"""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out.exists():
        retired = out.parent / f".{out.name}.retired-{uuid.uuid4().hex}"
        os.rename(out, retired)
        os.rename(staging, out)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.rename(staging, out)


def folder_size(path: Path) -> tuple[int, int]:
    """(bytes, files) under `path`."""
    sizes = [item.stat().st_size for item in path.rglob("*") if item.is_file()]
    return sum(sizes), len(sizes)
