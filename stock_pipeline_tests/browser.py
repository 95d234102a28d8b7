"""Driving the Dagster UI as a person does, in Debian's chromium through Playwright: the browser tests
and scripts/screenshots.py share these steps. Selectors are what a person sees (roles, labels, text),
plus the few component class prefixes of Dagster's graph where nothing else names an element."""

import re
import time
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, Locator, Page, Playwright

CHROMIUM = Path("/usr/bin/chromium")
# No browser download is possible here: Debian's chromium, headless, with nothing that phones home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 900}

SIDEBAR_ROW = "[class*=AssetSidebarNode_itemContainer]"
GRAPH_NODE_NAME = "[class*=AssetNode_assetName]"


def launch_chromium(playwright: Playwright) -> Browser:
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def new_page(browser: Browser, device_scale_factor: float = 1) -> Page:
    page = browser.new_page(viewport=VIEWPORT, device_scale_factor=device_scale_factor)
    # A fresh Dagster instance greets its first visitor with a newsletter dialog over whatever page is open.
    page.add_locator_handler(
        page.get_by_text("Join the Dagster community"), lambda: page.get_by_role("button", name="Skip").click()
    )
    return page


def settle(page: Page, timeout: float = 30) -> None:
    """Wait until no spinner or "fetching" placeholder is left on the page."""
    page.wait_for_load_state("networkidle")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        spinners = page.locator("[role=progressbar], [class*=Spinner], [class*=spinner]").count()
        if not spinners and "fetching" not in page.inner_text("body").lower():
            return
        time.sleep(0.5)


def open_asset_graph(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/asset-groups")
    page.get_by_role("button", name="Materialize all…").wait_for()
    page.locator(SIDEBAR_ROW).first.wait_for()


def expand_sidebar_groups(page: Page) -> None:
    groups = page.locator(SIDEBAR_ROW).filter(has=page.locator("[aria-label=asset_group]"))
    for index in range(groups.count()):
        groups.nth(index).locator("button:has([aria-label=arrow_drop_down])").click()


def sidebar_assets(page: Page) -> list[str]:
    """Asset names listed under the (expanded) groups of the graph's sidebar."""
    rows = page.locator(SIDEBAR_ROW).filter(has_not=page.locator("[aria-label=asset_group]"))
    return [rows.nth(index).locator("[title]").first.get_attribute("title") for index in range(rows.count())]


def graph_node(page: Page, asset: str) -> Locator:
    return page.locator(GRAPH_NODE_NAME).filter(has_text=re.compile(rf"^{re.escape(asset)}$"))


def on_screen(page: Page, locator: Locator) -> bool:
    box = locator.first.bounding_box() if locator.count() else None
    return (
        bool(box)
        and box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= VIEWPORT["width"]
        and (box["y"] + box["height"] <= VIEWPORT["height"])
    )


def show_in_graph(page: Page, asset: str) -> Locator:
    """Click the asset in the sidebar until the graph, which pans to it, shows its node on screen."""
    node = graph_node(page, asset)
    for _ in range(3):
        # A click during the pan to the previous asset (or while the side panel opens) can leave the
        # graph elsewhere; a person clicks again.
        page.locator(SIDEBAR_ROW).filter(has=page.locator(f"[title='{asset}']")).click()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if on_screen(page, node):
                return node
            time.sleep(0.25)
    raise AssertionError(f"{asset} is listed in the asset graph's sidebar but its node never shows in the graph")


def graph_settings(page: Page, item: str) -> None:
    """An entry of the graph's settings menu (the gear under the zoom slider)."""
    page.locator("button:has([aria-label=settings])").last.click()
    page.get_by_role("menuitem", name=item).click()
    page.keyboard.press("Escape")


def launch_backfill(
    page: Page, base_url: str, asset: str, first: str, last: str, partitions: int, older_than_90_days: bool
) -> str:
    """From the asset's partitions page: Materialize, a custom range of `partitions` partitions, Launch
    backfill. Returns the backfill's id from the confirmation."""
    page.goto(f"{base_url}/assets/{asset}?view=partitions")
    page.get_by_text("Materialized (").wait_for()
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.get_by_role("dialog")
    # The dialog offers the last 90 days only until asked for the whole history.
    whole_history = dialog.get_by_text("Show all partitions")
    if older_than_90_days:
        whole_history.click()
        whole_history.wait_for(state="detached")
    dialog.get_by_role("button", name="Custom", exact=True).click()
    selection = dialog.get_by_role("textbox").first
    selection.fill(f"[{first}...{last}]")
    selection.press("Enter")
    dialog.get_by_text(f"{partitions} partitions", exact=True).wait_for()
    dialog.get_by_role("button", name="Launch backfill").click()
    created = page.get_by_text(re.compile(r"Created backfill \w+"))
    created.wait_for()
    return created.inner_text().split()[-1]


@dataclass(frozen=True)
class BackfillProgress:
    status: str
    targeted: int
    in_progress: int
    succeeded: int
    failed: int


def read_backfill_page(page: Page, asset: str) -> BackfillProgress | None:
    """The status and the asset's row of partition counts as the backfill page shows them."""
    text = page.inner_text("main") if page.locator("main").count() else page.inner_text("body")
    status = re.search(r"Status\s*\n\s*([^\n]+)", text)
    row = re.search(rf"^{re.escape(asset)}\s*\n(?:.*\n)*?\s*\d+% completed\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", text, re.M)
    if not (status and row):
        return None
    return BackfillProgress(status.group(1).strip(), *(int(count) for count in row.groups()))
