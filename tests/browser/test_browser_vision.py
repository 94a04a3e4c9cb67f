"""Real browser: the Vision page shows the bring-a-model panel, then runs on a tiny model folder
typed into it (Debian Chromium + Playwright against `streamlit run`; screenshots saved)."""

from __future__ import annotations

import pytest

from tests.support.browser import ARTIFACTS, browser_page
from tests.support.tiny_vlms import save_tiny_vlm

pytestmark = [pytest.mark.browser]

CHART = "[data-testid='stVegaLiteChart']"
EXCEPTION = "[data-testid='stException']"


def test_vision_page_panel_then_tiny_model(server, tmp_path, monkeypatch):
    monkeypatch.delenv("HUBCORE_VISION_MODEL", raising=False)
    folder = save_tiny_vlm("llava", tmp_path / "llava")
    with browser_page() as page:
        page.goto(server + "/vision")
        page.get_by_text("Bring a vision-language model").wait_for(timeout=60_000)
        page.get_by_text("llava-hf/llava-1.5-7b-hf").first.wait_for()
        assert page.locator(EXCEPTION).count() == 0
        page.screenshot(path=str(ARTIFACTS / "vision_panel.png"), full_page=True)

        box = page.get_by_role("textbox", name="Vision-language model")
        box.fill(str(folder))
        box.press("Enter")
        page.locator(CHART).nth(1).locator("canvas, svg").first.wait_for(timeout=120_000)
        assert page.locator(EXCEPTION).count() == 0
        assert page.get_by_text("Bring a vision-language model").count() == 0
        page.screenshot(path=str(ARTIFACTS / "vision_tiny.png"), full_page=True)
