"""Real browser: Debian Chromium + Playwright against one `streamlit run` server (module scope).

Every page loads on the default model without an exception box, one main interaction per page
changes what is shown (checked on the CSV download, which holds the data the chart draws, or on
the text shown), and a screenshot of each page is saved to docs/screenshots/<page>.png.
"""

from __future__ import annotations


import pandas as pd
import pytest

from tests.browser import (browser_page, download_csv, download_until, screenshot,
                           streamlit_server, wait_chart)

pytestmark = [pytest.mark.browser, pytest.mark.default_model]


@pytest.fixture(scope="module")
def server(default_model):  # default_model: the cache is converted before the server starts
    with streamlit_server() as url:
        yield url


def test_semantics_page(server):
    with browser_page() as page:
        page.goto(server + "/semantics")
        wait_chart(page)
        raw = download_csv(page)
        assert set(raw["baseline"]) == {"nonmatching", "swapped_names", "swapped_shuffled"}
        screenshot(page, "semantics")
        # raw -> centered (in the form: applied on Run) is display-only: the result is cached,
        # only the chart's data change
        page.get_by_text("centered", exact=True).first.click()
        page.get_by_role("button", name="Run", exact=True).first.click()
        centered = download_until(page, lambda d: not d["adjusted"].equals(raw["adjusted"]))
        assert list(centered["layer"]) == list(raw["layer"])
        assert isinstance(centered, pd.DataFrame)
