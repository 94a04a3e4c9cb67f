"""Real browser: Debian Chromium + Playwright against one `streamlit run` server (module scope).

Every page loads on the default model without an exception box, one main interaction per page
changes what is shown (checked on the CSV download, which holds the data the chart draws, or on
the text shown), and a screenshot of each page is saved to docs/screenshots/<page>.png.
"""

from __future__ import annotations

import re

import pytest

from tests.support.browser import (EXCEPTION, browser_page, download_csv, screenshot, wait_chart, wait_idle)

pytestmark = [pytest.mark.browser, pytest.mark.default_model]


def test_arithmetic_page(server):
    with browser_page() as page:
        page.goto(server + "/arithmetic")
        wait_chart(page)
        df = download_csv(page)
        assert {"layer", "metric", "bucket", "mean", "ci_low", "ci_high"} <= set(df.columns)
        screenshot(page, "arithmetic")
        # the +1 intervention on a few items: a new chart and the unsteered accuracy appear
        wait_idle(page)
        page.get_by_role("tab", name="+1 intervention").filter(visible=True).first.click()
        items = page.get_by_label("Items", exact=True)
        items.wait_for(timeout=300_000)  # the script is still computing the earlier tabs
        items.fill("5")
        items.press("Enter")
        page.get_by_role("button", name="Run intervention").click()
        page.get_by_text("Unsteered accuracy").first.wait_for(timeout=300_000)
        assert page.locator(EXCEPTION).count() == 0
        page.get_by_text("Generations per item").first.wait_for()
        value = page.locator("[data-testid='stMetricValue']").first.inner_text()
        assert re.fullmatch(r"\d+%", value.strip()), value  # e.g. "20%" of 5 items
