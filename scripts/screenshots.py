"""Take the README's pictures of the Dagster UI: run by scripts/screenshots.sh after a demo, with the demo's
settings in the environment. Starts scripts/ui.sh on a free port, drives Debian's chromium through it,
writes PNGs into the folder given, and stops the UI (and its bundled server) as Ctrl-C would.

python scripts/screenshots.py docs/images
"""

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import requests
import sqlalchemy as sa
from playwright.sync_api import Page, sync_playwright

from stock_pipeline import settings
from stock_pipeline.warehouse import TABLES, Warehouse
from stock_pipeline_tests.browser import (
    VIEWPORT,
    graph_settings,
    launch_backfill,
    launch_chromium,
    new_page,
    open_asset_graph,
    read_backfill_page,
    settle,
)

REPO = Path(__file__).resolve().parents[1]
BACKFILL_DAYS = 10


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_ui(port: int, log: Path) -> subprocess.Popen:
    """scripts/ui.sh in its own process group, with SIGINT as a terminal would deliver it (a shell started
    in the background would otherwise pass it on ignored, and `dagster dev` ignores SIGTERM likewise)."""
    ui = subprocess.Popen(
        ["bash", "scripts/ui.sh"],
        cwd=REPO,
        env=os.environ | {"UI_PORT": str(port)},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if ui.poll() is not None:
            raise SystemExit(f"scripts/ui.sh stopped:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok:
                return ui
        except requests.ConnectionError:
            pass
        time.sleep(1)
    stop_ui(ui)
    raise SystemExit(f"the UI did not answer in 180 s:\n{log.read_text()[-3000:]}")


def stop_ui(ui: subprocess.Popen) -> None:
    os.killpg(ui.pid, signal.SIGINT)
    try:
        ui.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(ui.pid, signal.SIGKILL)
        ui.wait()


def open_days_before_the_demo(count: int) -> list[date]:
    """The `count` open dates just before the first date the demo synced, from the warehouse's calendar."""
    warehouse = Warehouse(settings.db_url())
    try:
        with warehouse.engine.connect() as conn:
            first_synced = conn.execute(sa.select(sa.func.min(TABLES["daily"].c.trade_date))).scalar_one()
        calendar = warehouse.calendar()
    finally:
        warehouse.dispose()
    return sorted(day for day, is_open in calendar.items() if is_open and day < first_synced)[-count:]


def shoot(page: Page, path: Path) -> None:
    settle(page)
    page.screenshot(path=str(path))
    print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")


def take(base_url: str, images: Path) -> None:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = new_page(browser)

        open_asset_graph(page, base_url)
        page.locator("button:has([aria-label=panel_show_right])").last.click()  # the graph's own sidebar
        page.get_by_role("button", name="Hide navigation").click()
        page.locator(".CodeMirror").first.click()  # the search box is a code editor
        page.keyboard.type("group:reference_data or group:market_data")
        page.keyboard.press("Enter")
        graph_settings(page, "Expand all groups")
        page.mouse.move(750, 500)
        for _ in range(3):  # zoomed out until both groups fit, names still legible
            page.keyboard.down("Control")
            page.mouse.wheel(0, 100)
            page.keyboard.up("Control")
            time.sleep(1)
        page.mouse.move(VIEWPORT["width"] - 100, 150)
        shoot(page, images / "asset-graph.png")

        page.goto(f"{base_url}/assets/daily?view=partitions")
        page.get_by_text("Materialized (").wait_for()
        shoot(page, images / "daily-partitions.png")

        days = open_days_before_the_demo(BACKFILL_DAYS)
        # Partitions are weekdays: a closed weekday inside the range is one more partition (no call).
        weekdays = sum(
            1
            for ordinal in range(days[0].toordinal(), days[-1].toordinal() + 1)
            if date.fromordinal(ordinal).weekday() < 5
        )
        backfill_id = launch_backfill(
            page, base_url, "daily", days[0].isoformat(), days[-1].isoformat(), weekdays, older_than_90_days=False
        )
        page.goto(f"{base_url}/runs/b/{backfill_id}")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            progress = read_backfill_page(page, "daily")
            if progress and progress.status == "In progress" and progress.in_progress:
                shoot(page, images / "backfill-in-progress.png")
                break
            time.sleep(1)
        while time.monotonic() < deadline:
            progress = read_backfill_page(page, "daily")
            if progress and progress.status not in ("In progress", "Requested"):
                break
            time.sleep(2)

        page.goto(f"{base_url}/assets/daily?view=events")
        # One date's materialization (the newest event is the run's totals, an observation).
        page.get_by_text(days[-1].isoformat(), exact=True).first.click()
        page.get_by_text("Materialized in run").wait_for()
        shoot(page, images / "materialization-metadata.png")

        page.goto(f"{base_url}/assets/daily?view=checks")
        page.get_by_text("ohlc_sanity").first.wait_for()
        shoot(page, images / "daily-checks.png")

        page.goto(f"{base_url}/automation")
        page.get_by_text("daily_sync_schedule").first.wait_for()
        shoot(page, images / "automation.png")
        browser.close()


def main(argv: list[str]) -> None:
    images = Path(argv[0] if argv else REPO / "docs" / "images").resolve()
    images.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = Path(os.environ.get("DAGSTER_HOME", "/tmp")) / "ui.log"
    ui = start_ui(port, log)
    try:
        take(f"http://127.0.0.1:{port}", images)
    finally:
        stop_ui(ui)


if __name__ == "__main__":
    main(sys.argv[1:])
