"""Real browser on the pages the issue named (Formal semantics, Code, Arithmetic): every
per-layer plot keeps its height, its title shows, and a verdict line sits under it; presenter
mode enlarges the page. Screenshots: docs/screenshots/ux_*.png (look at them)."""

from __future__ import annotations

import pytest

from app.charts import MIN_HEIGHT
from tests.support.browser import CHART, EXCEPTION, browser_page, screenshot, streamlit_server, wait_chart

pytestmark = [pytest.mark.browser, pytest.mark.default_model]


@pytest.fixture(scope="module")
def server(own_cache):
    with streamlit_server() as url:
        yield url


def chart_heights(page) -> list[float]:
    """The drawn height of every visible chart (each scrolled into view first: a chart below the
    fold may be drawn only once it is on screen)."""
    boxes = []
    for chart in page.locator(CHART).filter(visible=True).all():
        chart.scroll_into_view_if_needed()
        boxes.append(chart.locator("canvas, svg.marks").first.bounding_box(timeout=120_000))
    return [b["height"] for b in boxes if b]


def verdicts(page) -> list[str]:
    """The whole verdict lines shown (the markdown blocks holding the bold "Verdict.")."""
    blocks = page.locator("[data-testid='stMarkdownContainer']").filter(has_text="Verdict.")
    return blocks.filter(visible=True).all_inner_texts()


@pytest.mark.parametrize("path,name", [("/semantics", "ux_semantics"), ("/arithmetic", "ux_arithmetic")])
def test_per_layer_plots_keep_their_height_and_carry_a_verdict(server, path, name):
    with browser_page(height=1400) as page:
        page.goto(server + path)
        wait_chart(page, 600_000)
        screenshot(page, name)
        heights = chart_heights(page)
        assert heights and min(heights) >= MIN_HEIGHT  # canvas = plot + axes + legend: never squeezed
        found = verdicts(page)
        assert found and all("95% CIs" in v for v in found)
        assert page.locator(EXCEPTION).count() == 0


def test_presenter_mode_enlarges_text_and_hides_advanced_controls(server):
    with browser_page(height=1000) as page:
        page.goto(server + "/semantics")
        wait_chart(page, 600_000)
        before = chart_heights(page)[0]
        assert page.get_by_text("Reproduce this run").first.is_visible()
        page.get_by_text("Presenter mode").click()
        page.get_by_text("Reproduce this run").first.wait_for(state="hidden", timeout=60_000)
        # The sidebar's stale "Run on" stays on screen until the rerun ends (Streamlit removes
        # elements a rerun no longer draws only then): wait for it to go, then read the chart.
        page.get_by_text("Run on").first.wait_for(state="hidden", timeout=60_000)
        wait_chart(page)
        assert chart_heights(page)[0] > before
        assert not page.get_by_text("Run on").first.is_visible()
        assert page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)") >= 20
        screenshot(page, "ux_presenter")
