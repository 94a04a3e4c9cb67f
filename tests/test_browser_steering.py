"""Real browser: the Steering page generates side by side on the default model, and moving the
coefficient slider re-runs it with different steered text (Debian Chromium + Playwright)."""

from __future__ import annotations

import pytest

from tests.browser import ARTIFACTS, browser_page, streamlit_server

pytestmark = [pytest.mark.browser, pytest.mark.default_model]

EXCEPTION = "[data-testid='stException']"
GENERATION = "[data-testid='stText']"


@pytest.fixture(scope="module")
def server():
    ARTIFACTS.mkdir(exist_ok=True)
    with streamlit_server() as url:
        yield url


def _texts(page) -> list[str]:
    return [t.inner_text() for t in page.locator(GENERATION).all()]


def test_steering_page_slider_changes_generations(server):
    with browser_page() as page:
        page.goto(server + "/steering")
        page.get_by_text("Steered with en: Good − Bad").wait_for(timeout=300_000)
        page.locator(GENERATION).nth(5).wait_for(timeout=60_000)  # 3 columns x 2 seeds
        assert page.locator(EXCEPTION).count() == 0
        before = _texts(page)
        page.screenshot(path=str(ARTIFACTS / "steering.png"), full_page=True)

        slider = page.get_by_role("slider", name="Coefficient")
        assert float(slider.input_value()) == 5.0
        slider.focus()
        slider.press("Home")  # -40: strongly towards "Bad"
        page.wait_for_function(
            "([sel, old]) => { const t = [...document.querySelectorAll(sel)].map(e => e.innerText);"
            " return t.length === 6 && t.slice(2).join('|') !== old; }",
            arg=[GENERATION, "|".join(before[2:])], timeout=300_000,
        )
        after = _texts(page)
        assert float(slider.input_value()) == -40.0
        assert after[:2] == before[:2]  # the unsteered column does not move
        assert page.locator(EXCEPTION).count() == 0
        page.screenshot(path=str(ARTIFACTS / "steering_coef.png"), full_page=True)
