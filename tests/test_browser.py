"""Real browser: Debian Chromium + Playwright against one `streamlit run` server (module scope).

Every page loads on the default model without an exception box, one main interaction per page
changes what is shown (checked on the CSV download, which holds the data the chart draws, or on
the text shown), and a screenshot of each page is saved to docs/screenshots/<page>.png.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from tests.browser import (CHART, EXCEPTION, browser_page, download_csv, download_until, screenshot,
                           streamlit_server, wait_idle)

pytestmark = [pytest.mark.browser, pytest.mark.default_model]


@pytest.fixture(scope="module")
def server(default_model):  # default_model: the cache is converted before the server starts
    with streamlit_server() as url:
        yield url


def wait_chart(page, timeout: float = 300_000, scope=None) -> None:
    root = scope if scope is not None else page
    root.locator(CHART).first.locator("canvas, svg").first.wait_for(timeout=timeout)
    assert page.locator(EXCEPTION).count() == 0


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
        page.get_by_role("button", name="Run").click()
        page.get_by_text("'Hoy'", exact=False).first.wait_for(timeout=120_000)
        df = download_until(page, lambda d: "Hoy" in set(d["input_token"]), keep_default_na=False)
        assert df["position"].max() == 4


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
        assert slider.input_value() == "13"
        slider.focus()
        for _ in range(3):
            slider.press("ArrowLeft")
        assert slider.input_value() == "10"
        # same tokens, read at layer 10 instead of 13: other top tokens / probabilities
        after = download_until(page, lambda d: not d["prob"].equals(before["prob"]), keep_default_na=False)
        assert after["input_token"].tolist() == before["input_token"].tolist()


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
