"""The Dagster UI as a person uses it, in a real browser (Debian's chromium, driven by Playwright) against a
real dagster-webserver and dagster-daemon: every asset in the graph, `daily`'s partitions, a backfill
launched by clicking and followed on its page, and the warehouse afterwards. No browser is a failure."""

import time
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import sync_playwright

from stock_pipeline.definitions import defs
from stock_pipeline_tests.browser import (
    expand_sidebar_groups,
    launch_backfill,
    launch_chromium,
    new_page,
    open_asset_graph,
    read_backfill_page,
    show_in_graph,
    sidebar_assets,
)
from stock_pipeline_tests.cli import dagster_home, materialize, project_env
from stock_pipeline_tests.conftest import SERVER_NOW, TEST_TOKEN, server_items
from stock_pipeline_tests.deployment import Deployment
from tushare_double.app import ServerConfig
from tushare_double.launcher import ServerProcess


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("browser")
    warehouse_url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    config = ServerConfig(tokens={TEST_TOKEN: 5000}, n_stocks=300, now=SERVER_NOW, rate_limit_default=0)
    with ServerProcess(config) as server:
        env = project_env(dagster_home(tmp_path), server.url, server.token, warehouse_url)
        materialize(env, "--select", "trade_cal,stock_basic")
        deployment = Deployment(env, tmp_path)
        try:
            yield deployment.url.removesuffix("/graphql"), server, warehouse_url
        finally:
            deployment.stop()


@pytest.fixture(scope="module")
def page():
    # Deliberately no skip: a browser that cannot start fails the suite.
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield new_page(browser)
        finally:
            browser.close()


def test_the_asset_graph_shows_every_asset_of_the_definitions(ui, page):
    base_url, _, _ = ui
    expected = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}

    open_asset_graph(page, base_url)
    expand_sidebar_groups(page)
    listed = sidebar_assets(page)
    assert sorted(listed) == sorted(expected)
    for asset in listed:
        show_in_graph(page, asset)


def _next_weekday(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _three_consecutive_trading_days(server) -> list[str]:
    """The last three open days before the server's today that are consecutive weekdays (partition keys), so
    that a range of three partitions is three trading dates; from the server's own calendar."""
    items = server_items(
        server, "trade_cal", {"start_date": "20240601", "end_date": "20240711", "is_open": "1"}, ("cal_date",)
    )
    days = sorted(date(int(d[:4]), int(d[4:6]), int(d[6:])) for (d,) in items)
    for end in range(len(days) - 1, 1, -1):
        first, middle, last = days[end - 2 : end + 1]
        if _next_weekday(first) == middle and _next_weekday(middle) == last:
            return [day.isoformat() for day in (first, middle, last)]
    raise AssertionError(f"no three consecutive open weekdays in {days}")


def test_a_backfill_launched_by_clicking_runs_to_completion_and_fills_the_warehouse(ui, page):
    base_url, server, warehouse_url = ui
    days = _three_consecutive_trading_days(server)

    backfill_id = launch_backfill(page, base_url, "daily", days[0], days[-1], partitions=3, older_than_90_days=True)
    page.get_by_role("link", name="View").first.click()
    page.wait_for_url(f"**/{backfill_id}**")

    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        progress = read_backfill_page(page, "daily")
        if progress and (not seen or seen[-1] != progress):
            seen.append(progress)
        if progress and progress.status not in ("In progress", "Requested"):
            break
        time.sleep(1)
    assert seen, page.inner_text("body")[-2000:]
    assert seen[-1].status == "Succeeded", seen
    assert (seen[-1].targeted, seen[-1].succeeded, seen[-1].failed) == (3, 3, 0), seen
    assert seen[0].status == "In progress", seen  # the page was watched while the backfill ran

    engine = sa.create_engine(warehouse_url)
    with engine.connect() as conn:
        stored = set(
            conn.execute(
                sa.text("SELECT ts_code, trade_date FROM daily WHERE trade_date BETWEEN :a AND :b"),
                {"a": days[0], "b": days[-1]},
            ).all()
        )
    engine.dispose()
    expected = {
        (code, day)
        for day in days
        for code, _ in server_items(server, "daily", {"trade_date": day.replace("-", "")}, ("ts_code", "trade_date"))
    }
    assert {(code, str(day)) for code, day in stored} == expected
