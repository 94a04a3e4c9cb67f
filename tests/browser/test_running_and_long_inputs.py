"""Real browser on the Logit Lens page: the running state (stage, time left, the warning before a
long run, Stop keeping the previous result), a long text's heatmap within the page, and scripts
beyond Latin and CJK drawn with real glyphs. Screenshots: docs/screenshots/ux_*.png."""

from __future__ import annotations

import pytest

from hubcore.models import ModelSpec
from tests.support.browser import (CHART, EXCEPTION, SCREENSHOTS, browser_page, screenshot, streamlit_server,
                           wait_chart)

from .conftest import seed_costs

pytestmark = [pytest.mark.browser, pytest.mark.default_model]

SPANISH = ("Hoy es un buen día para aprender algo nuevo sobre los modelos de lenguaje y la forma en que "
           "representan el significado de las palabras en muchas lenguas diferentes. ")


@pytest.fixture(scope="module")
def server(own_cache):
    # earlier lens runs here took 2 s per character: a 600-character text predicts ~20 min
    seed_costs(own_cache, "lens", ModelSpec(), [(7.0, 14.0)])
    with streamlit_server() as url:
        yield url


def main_width(page) -> float:
    return page.evaluate("document.querySelector('[data-testid=\"stMainBlockContainer\"]').getBoundingClientRect().width")


def widest(page) -> float:
    """The page's scroll width, or the right edge (px) of the widest chart, canvas, SVG or code
    block if one sticks out further (the reproduce command of a long text was a 9,000 px line).
    A slider's native range input is left out: its box runs past a thumb at the end of the
    track, clipped, and nothing of it shows."""
    return page.evaluate("Math.max(document.documentElement.scrollWidth, ...Array.from(document.querySelectorAll("
                         "'canvas, svg, [data-testid=stVegaLiteChart], pre, code')).map(e => e.getBoundingClientRect().right))")


def overflowing(page, width: float) -> list:
    """What sticks out past `width` px: tag, test id, class and right edge of each element."""
    return page.evaluate("w => Array.from(document.querySelectorAll('*')).filter(e => "
                         "e.getBoundingClientRect().right > w).map(e => [e.tagName, e.getAttribute('data-testid'), "
                         "String(e.className).slice(0, 60), e.getAttribute('type'), e.getAttribute('aria-label'), "
                         "Math.round(e.getBoundingClientRect().left), Math.round(e.getBoundingClientRect().right), "
                         "Math.round(e.getBoundingClientRect().height), getComputedStyle(e).opacity])", width)


def run_text(page, text: str) -> None:
    """Type `text` and press Run. The first run's chart may still be re-laid out when this starts,
    which can replace the text box under the typing: type until the box holds the text."""
    box = page.get_by_role("textbox", name="Text", exact=True)
    for _ in range(10):
        box.fill(text)
        page.wait_for_timeout(500)
        if box.input_value() == text:
            break
    page.get_by_role("button", name="Run", exact=True).click()


def test_running_state_warns_shows_time_left_and_stops_keeping_the_previous_result(server):
    with browser_page(height=1000) as page:
        page.goto(server + "/logit_lens")
        wait_chart(page, 300_000)
        # every position of a long text: a long run (by default only the heatmap's 48 are read)
        page.get_by_text("Read every position", exact=False).click()
        run_text(page, (SPANISH * 5)[:600])
        page.get_by_text("predicted to take about", exact=False).wait_for(timeout=120_000)
        # the stage text arrives with the run's first report (before it: "Starting…" and the
        # predicted time left)
        bar = page.locator("[data-testid='stProgress']").filter(has_text="Lens: layers")
        bar.wait_for(timeout=300_000)
        text = bar.inner_text()
        assert "Lens: layers" in text and "elapsed" in text and "about" in text
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "ux_running.png"))
        page.get_by_role("button", name="Stop").click()
        page.get_by_text("Stopped at", exact=False).wait_for(timeout=120_000)
        assert page.get_by_text("Showing the previous result").count() == 1
        assert page.locator(EXCEPTION).count() == 0
        wait_chart(page)
        assert page.get_by_text("'今天是'", exact=False).count() >= 1  # the example's run is still shown
        screenshot(page, "ux_stopped")


def test_a_long_text_is_windowed_within_the_page_width(server):
    with browser_page(height=1000) as page:
        page.goto(server + "/logit_lens")
        wait_chart(page, 300_000)
        run_text(page, SPANISH * 3)  # ~110 tokens
        page.get_by_text("Positions shown").wait_for(timeout=600_000)  # drawn before the run now
        page.get_by_text("Input tokens (", exact=False).first.wait_for(timeout=600_000)  # the result
        wait_chart(page)
        screenshot(page, "ux_lens_long")
        assert widest(page) <= page.viewport_size["width"], repr(overflowing(page, page.viewport_size["width"]))
        canvas = page.locator(CHART).first.locator("canvas, svg.marks").first.bounding_box()
        assert canvas["width"] <= main_width(page) + 1
        assert page.get_by_text("Input tokens (", exact=False).count() == 1  # the list is folded


def test_devanagari_and_kannada_tokens_are_drawn(server):
    with browser_page(height=1000) as page:
        page.goto(server + "/logit_lens")
        wait_chart(page, 300_000)
        run_text(page, "नमस्ते, आप कैसे हैं? ನಮಸ್ಕಾರ, ಹೇಗಿದ್ದೀರಿ")
        # the run's token list (the selectbox's "Custom" is no text node get_by_text can find)
        page.get_by_text("'नमस्ते'", exact=False).first.wait_for(timeout=300_000)
        page.locator(CHART).first.locator("canvas, svg.marks").first.wait_for(timeout=300_000)
        screenshot(page, "ux_lens_scripts")
        assert page.locator(EXCEPTION).count() == 0
