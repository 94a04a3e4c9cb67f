"""Real browser: the Audio page loads without an exception box, transcribes the default
recording, and switching the recording's language re-transcribes it."""

from __future__ import annotations

import pytest

from tests.support.browser import ARTIFACTS, browser_page, streamlit_server

pytestmark = [pytest.mark.browser]

EXCEPTION = "[data-testid='stException']"


@pytest.fixture(scope="module")
def server():
    from hubcore.models.whisper_base import whisper_base_dir

    whisper_base_dir()  # convert before the server starts, so the page only loads
    ARTIFACTS.mkdir(exist_ok=True)
    with streamlit_server() as url:
        yield url


def test_audio_page_transcribes_and_switches_language(server):
    with browser_page() as page:
        page.goto(server + "/audio")
        page.get_by_role("heading", name="Audio").first.wait_for(timeout=60_000)
        page.get_by_text("[en]").first.wait_for(timeout=180_000)
        page.get_by_text("conference number", exact=False).first.wait_for()
        assert page.locator(EXCEPTION).count() == 0
        page.screenshot(path=str(ARTIFACTS / "audio.png"), full_page=True)
        # one interaction: pick the Spanish recording of the same prompt
        page.get_by_role("combobox", name="Language").first.click()  # the recording-language box
        page.get_by_role("option", name="Spanish").click()
        page.get_by_text("[es]").first.wait_for(timeout=180_000)
        page.get_by_text("conferencia", exact=False).first.wait_for()
        assert page.locator(EXCEPTION).count() == 0
