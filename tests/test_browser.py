"""Real browser: Debian Chromium + Playwright against `streamlit run` (screenshots saved)."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.browser import ARTIFACTS, browser_page, streamlit_server

pytestmark = [pytest.mark.browser, pytest.mark.default_model]

CHART = "[data-testid='stVegaLiteChart']"
EXCEPTION = "[data-testid='stException']"


@pytest.fixture(scope="module")
def server(default_model):  # default_model: the cache is converted before the server starts
    ARTIFACTS.mkdir(exist_ok=True)
    with streamlit_server() as url:
        yield url


def test_home_page(server):
    with browser_page() as page:
        page.goto(server + "/")
        page.get_by_role("heading", name="Semantic Hub Explorer").wait_for(timeout=60_000)
        page.get_by_text("Logit Lens").first.wait_for()
        page.screenshot(path=str(ARTIFACTS / "home.png"), full_page=True)
        assert page.locator(EXCEPTION).count() == 0


def test_logit_lens_page_shows_heatmap(server):
    with browser_page() as page:
        page.goto(server + "/logit_lens")
        heat = page.locator(CHART).first
        heat.locator("canvas, svg").first.wait_for(timeout=180_000)
        page.get_by_text("Download CSV").first.wait_for()
        assert page.locator(EXCEPTION).count() == 0
        # the heatmap's hover data contains real lens tokens: check the CSV download instead of
        # pixels, it is the same data the chart draws
        with page.expect_download() as dl:
            page.get_by_text("Download CSV").first.click()
        df = pd.read_csv(dl.value.path(), keep_default_na=False)
        assert list(df.columns) == ["layer", "position", "input_token", "rank", "token", "prob"]
        assert len(df) == 19 * 4 * 5  # 19 layers x 4 positions (BOS + 3 tokens) x top-5
        last = df[(df.layer == 18) & (df.position == 3) & (df["rank"] == 1)]
        assert last["token"].item() == "天"  # the model's own prediction, as in the paper
        page.screenshot(path=str(ARTIFACTS / "logit_lens.png"), full_page=True)

        # change the text, run again: the page recomputes and the export holds the new tokens.
        # The caption and the download button update at slightly different moments, so the
        # download is polled (bounded) until it reflects the new text.
        page.get_by_role("textbox", name="Text", exact=True).fill("Hoy es un buen")
        page.get_by_role("button", name="Run").click()
        page.get_by_text("'Hoy'", exact=False).first.wait_for(timeout=120_000)
        tokens: set = set()
        for _ in range(30):
            assert page.locator(EXCEPTION).count() == 0
            with page.expect_download() as dl:
                page.get_by_text("Download CSV").first.click()
            tokens = set(pd.read_csv(dl.value.path(), keep_default_na=False)["input_token"])
            if "Hoy" in tokens:
                break
            page.wait_for_timeout(1000)
        assert "Hoy" in tokens


def test_multilingual_page_similarity(server):
    with browser_page() as page:
        page.goto(server + "/multilingual")
        page.locator(CHART).first.locator("canvas, svg").first.wait_for(timeout=300_000)
        page.get_by_text("Download CSV").first.wait_for()
        assert page.locator(EXCEPTION).count() == 0
        with page.expect_download() as dl:
            page.get_by_text("Download CSV").first.click()
        df = pd.read_csv(dl.value.path())
        assert {"layer", "metric", "adjusted", "ci_low", "ci_high", "retrieval_at_1"} <= set(df.columns)
        assert set(df["metric"]) == {"raw", "centered"}
        page.screenshot(path=str(ARTIFACTS / "multilingual.png"), full_page=True)
        # switch tabs: the anchoring tab waits for an explicit run
        page.get_by_role("tab", name="Anchoring").click()
        page.get_by_role("button", name="Run anchoring").wait_for()
        assert page.locator(EXCEPTION).count() == 0


def test_arithmetic_page_intervention(server):
    with browser_page() as page:
        page.goto(server + "/arithmetic")
        page.locator(CHART).first.locator("canvas, svg").first.wait_for(timeout=300_000)
        assert page.locator(EXCEPTION).count() == 0
        page.screenshot(path=str(ARTIFACTS / "arithmetic.png"), full_page=True)
        page.get_by_role("tab", name="+1 intervention").click()
        page.get_by_role("button", name="Run intervention").click()
        page.get_by_text("Unsteered accuracy").first.wait_for(timeout=300_000)
        assert page.locator(EXCEPTION).count() == 0


def test_semantics_page(server):
    with browser_page() as page:
        page.goto(server + "/semantics")
        page.locator(CHART).first.locator("canvas, svg").first.wait_for(timeout=300_000)
        assert page.locator(EXCEPTION).count() == 0
        page.screenshot(path=str(ARTIFACTS / "semantics.png"), full_page=True)


def test_code_page(server):
    with browser_page() as page:
        page.goto(server + "/code")
        page.locator(CHART).first.locator("canvas, svg").first.wait_for(timeout=300_000)
        assert page.locator(EXCEPTION).count() == 0
        page.screenshot(path=str(ARTIFACTS / "code.png"), full_page=True)
