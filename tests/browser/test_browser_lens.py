"""Real browser: Debian Chromium + Playwright against one `streamlit run` server (module scope).

Every page loads on the default model without an exception box, one main interaction per page
changes what is shown (checked on the CSV download, which holds the data the chart draws, or on
the text shown), and a screenshot of each page is saved to docs/screenshots/<page>.png.
"""

from __future__ import annotations


import pytest

from tests.support.browser import (EXCEPTION, browser_page, download_csv, download_until, screenshot, wait_chart)

pytestmark = [pytest.mark.browser, pytest.mark.default_model]


def test_home_page(server):
    with browser_page() as page:
        page.goto(server + "/")
        page.get_by_role("heading", name="Semantic Hub Explorer").wait_for(timeout=60_000)
        page.get_by_text("Logit Lens").first.wait_for()
        assert page.locator(EXCEPTION).count() == 0
        screenshot(page, "home")
        # the main interaction: a link to an experiment page opens it
        page.locator("[data-testid='stPageLink'] a", has_text="Formal semantics").first.click()
        page.get_by_role("heading", name="Formal semantics").wait_for(timeout=60_000)
        assert page.locator(EXCEPTION).count() == 0


def test_logit_lens_page(server):
    with browser_page() as page:
        page.goto(server + "/logit_lens")
        wait_chart(page, 180_000)
        page.get_by_text("Download CSV").first.wait_for()
        df = download_csv(page, keep_default_na=False)
        assert list(df.columns) == ["layer", "position", "input_token", "rank", "token", "prob"]
        assert len(df) == 19 * 4 * 5  # 19 layers x 4 positions (BOS + 3 tokens) x top-5
        last = df[(df.layer == 18) & (df.position == 3) & (df["rank"] == 1)]
        assert last["token"].item() == "天"  # the model's own prediction, as in the paper
        screenshot(page, "logit_lens")
        with page.expect_download() as dl:  # the PNG is rendered on click
            page.get_by_text("Download PNG").first.click()
        assert open(dl.value.path(), "rb").read(8) == b"\x89PNG\r\n\x1a\n"

        # type new text, run: the export (the heatmap's data) holds the new tokens
        page.get_by_role("textbox", name="Text", exact=True).fill("Hoy es un buen")
        page.get_by_role("button", name="Run", exact=True).click()
        page.get_by_text("'Hoy'", exact=False).first.wait_for(timeout=120_000)
        df = download_until(page, lambda d: "Hoy" in set(d["input_token"]), keep_default_na=False)
        assert df["position"].max() == 4
