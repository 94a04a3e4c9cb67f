"""Real browser: Debian Chromium + Playwright against one `streamlit run` server (module scope).

Every page loads on the default model without an exception box, one main interaction per page
changes what is shown (checked on the CSV download, which holds the data the chart draws, or on
the text shown), and a screenshot of each page is saved to docs/screenshots/<page>.png.
"""

from __future__ import annotations


import pandas as pd
import pytest

from tests.support.browser import (browser_page, download_csv, download_until, screenshot, wait_chart)

pytestmark = [pytest.mark.browser, pytest.mark.default_model]


def test_semantics_page(server):
    with browser_page() as page:
        page.goto(server + "/semantics")
        wait_chart(page)
        centered = download_csv(page)  # the page opens on the centred cosine
        assert set(centered["baseline"]) == {"nonmatching", "swapped_names", "swapped_shuffled"}
        screenshot(page, "semantics")
        # centered -> raw (in the form: applied on Run) is display-only: the result is cached,
        # only the chart's data change
        page.get_by_text("raw", exact=True).first.click()
        page.get_by_role("button", name="Run", exact=True).first.click()
        raw = download_until(page, lambda d: not d["adjusted"].equals(centered["adjusted"]))
        assert list(raw["layer"]) == list(centered["layer"])
        assert isinstance(raw, pd.DataFrame)
