"""Real browser: Debian Chromium + Playwright against one `streamlit run` server (module scope).

Every page loads on the default model without an exception box, one main interaction per page
changes what is shown (checked on the CSV download, which holds the data the chart draws, or on
the text shown), and a screenshot of each page is saved to docs/screenshots/<page>.png.
"""

from __future__ import annotations

import re

import pytest

from tests.support.browser import (EXCEPTION, browser_page, download_csv, download_until, screenshot, wait_chart, wait_idle)

pytestmark = [pytest.mark.browser, pytest.mark.default_model]


def test_multilingual_page(server):
    with browser_page() as page:
        page.goto(server + "/multilingual")
        wait_chart(page)
        page.get_by_text("Download CSV").first.wait_for()
        before = download_csv(page)
        assert {"layer", "metric", "adjusted", "ci_low", "ci_high", "retrieval_at_1"} <= set(before.columns)
        assert set(before["metric"]) == {"raw", "centered"}
        screenshot(page, "multilingual")
        # fewer pairs, run: retrieval@1 (chance = 1/pairs) and the curves change
        field = page.get_by_label("Pairs used (random sample)")
        field.fill("20")
        field.press("Enter")
        page.get_by_role("button", name="Run").first.click()
        page.get_by_text("(20 pairs)", exact=False).first.wait_for(timeout=300_000)
        after = download_until(page, lambda d: not d["adjusted"].equals(before["adjusted"]))
        assert len(after) == len(before)
        # the anchoring tab waits for an explicit run
        wait_idle(page)
        page.get_by_role("tab", name="Anchoring").filter(visible=True).first.click()
        page.get_by_role("button", name="Run anchoring").wait_for()
        assert page.locator(EXCEPTION).count() == 0
        # the URL names the open tab and the run's parameters (a link opens the same run)
        page.wait_for_url(re.compile(r"tab=Anchoring"), timeout=60_000)
        assert "max_pairs=20" in page.url and "anchoring.texts=" in page.url
