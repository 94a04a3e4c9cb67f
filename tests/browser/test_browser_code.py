"""Real browser: Debian Chromium + Playwright against one `streamlit run` server (module scope).

Every page loads on the default model without an exception box, one main interaction per page
changes what is shown (checked on the CSV download, which holds the data the chart draws, or on
the text shown), and a screenshot of each page is saved to docs/screenshots/<page>.png.
"""

from __future__ import annotations


import pytest

from tests.support.browser import (CHART, browser_page, download_csv, download_until, screenshot, wait_chart, wait_idle)

pytestmark = [pytest.mark.browser, pytest.mark.default_model]


def test_code_page(server):
    with browser_page() as page:
        page.goto(server + "/code")
        wait_chart(page)
        df = download_csv(page)
        assert set(df["target"]) >= {"and", "or", "not", "next"}
        screenshot(page, "code")
        # live lens strip: move the layer slider, the strip reads another layer
        wait_idle(page)
        page.get_by_role("tab", name="Live lens strip").filter(visible=True).first.click()
        page.locator(CHART).filter(visible=True).first.locator("canvas, svg").first.wait_for(timeout=300_000)
        before = download_csv(page, keep_default_na=False)
        assert list(before.columns) == ["position", "input_token", "char_start", "char_end", "top_token", "prob"]
        slider = page.get_by_role("slider", name="Layer to read").filter(visible=True).first
        assert slider.input_value() == "9"  # default_layer: the middle of Gemma-3-270M's 18 blocks
        slider.focus()
        for _ in range(3):
            slider.press("ArrowLeft")
        assert slider.input_value() == "6"
        # same tokens, read at layer 6 instead of 9: other top tokens / probabilities
        after = download_until(page, lambda d: not d["prob"].equals(before["prob"]), keep_default_na=False)
        assert after["input_token"].tolist() == before["input_token"].tolist()
