"""Real browser: the Steering page as a lab instrument on the default model (Debian Chromium +
Playwright): generated text escaped, continuations streamed token by token into every column
while the previous run stays visible (dimmed), runs kept in a history that pins and exports."""

from __future__ import annotations

import time

import pytest

from tests.support.browser import SCREENSHOTS, browser_page, download_csv, pick_option, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.default_model]

EXCEPTION = "[data-testid='stException']"
SIDE = "[role='tabpanel']:visible"
# state (previous / live / done), opacity, meta line and text of every generation card shown
CARDS = """() => [...document.querySelectorAll('.steer-gen')].filter(e => e.offsetParent !== null).map(e => ({
    state: e.dataset.state, opacity: parseFloat(getComputedStyle(e).opacity),
    meta: e.querySelector('.steer-meta').innerText, text: e.querySelector('.steer-text').innerText}))"""
MARKUP_PROMPT = "<strong>La comida</u> \x10 del restaurante"


def _cards(page) -> list[dict]:
    return page.evaluate(CARDS)


def _tokens(card: dict) -> int:
    """The token count a live card's meta line states ("seed 0 · generating: 12 tokens")."""
    return int(card["meta"].split("generating: ")[1].split()[0])


def _wait_done(page, n: int = 6, timeout: float = 600_000) -> list[dict]:
    page.wait_for_function(
        "(n) => { const c = [...document.querySelectorAll('.steer-gen')].filter(e => e.offsetParent !== null);"
        " return c.length >= n && c.slice(0, n).every(e => e.dataset.state === 'done'); }",
        arg=n, timeout=timeout)
    return _cards(page)[:n]


def test_steering_page_escapes_streams_keeps_the_previous_run_and_pins_history(server):
    with browser_page() as page:
        page.goto(server + "/steering")
        page.get_by_text("Steered with en: Good − Bad").wait_for(timeout=600_000)
        first = _wait_done(page)  # 3 columns x 2 seeds
        assert page.locator(EXCEPTION).count() == 0
        assert all(c["opacity"] == 1 and c["meta"].startswith("seed ") for c in first)

        # markup and control characters in the input are shown as text, never rendered
        box = page.get_by_label("Prompt", exact=True)
        box.fill(MARKUP_PROMPT)
        box.press("Enter")
        page.locator(".steer-prompt", has_text="<strong>La comida</u> ␐").wait_for(timeout=60_000)
        escaped = _wait_done(page)
        assert page.locator(".steer-prompt strong, .steer-prompt u, .steer-text strong, .steer-text u").count() == 0
        assert page.locator(EXCEPTION).count() == 0
        screenshot(page, "steering_escaped")

        # a slider change: the previous run stays (dimmed) until the new words stream in, every
        # column advancing together, and never an empty side by side
        slider = page.get_by_role("slider", name="Coefficient")
        slider.focus()
        start = time.perf_counter()
        slider.press("ArrowRight")  # 5 -> 5.5
        samples, shot = [], False
        while time.perf_counter() - start < 600:
            cards = _cards(page)[:6]
            samples.append(cards)
            states = [c["state"] for c in cards]
            if not shot and states.count("live") == 6 and _tokens(cards[0]) >= 8:
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOTS / "steering_streaming.png"))
                shot = True
            if states == ["done"] * 6 and [c["text"] for c in cards[2:]] != [c["text"] for c in escaped[2:]]:
                break
            page.wait_for_timeout(40)
        assert samples[-1][0]["state"] == "done", "the run did not finish"
        gone = [s for s in samples if not (len(s) == 6 and all(c["text"].strip() for c in s))]
        assert not gone, f"the columns vanished: {gone[0]}"
        previous = [s for s in samples if any(c["state"] == "previous" for c in s)]
        assert previous, "the previous run was not kept on screen while re-running"
        kept = next(c for c in previous[0] if c["state"] == "previous")
        assert kept["opacity"] < 0.6 and kept["text"] in [c["text"] for c in escaped]
        live = [s for s in samples if [c["state"] for c in s] == ["live"] * 6]
        assert len(live) >= 2, "continuations were not streamed"
        assert _tokens(live[0][0]) < _tokens(live[-1][0]), "the streamed text did not grow"
        assert any(len({_tokens(c) for c in s}) == 1 for s in live), "columns did not advance together"
        assert shot
        final = samples[-1]
        assert [c["text"] for c in final[:2]] == [c["text"] for c in escaped[:2]]  # unsteered unchanged
        assert page.locator(".steer-text mark").count() > 0  # steered words that differ are marked
        assert page.locator(EXCEPTION).count() == 0

        # both runs are in the history; pinned side by side, and exported as one CSV
        page.get_by_text("Run history").wait_for()
        pin = page.get_by_role("combobox", name="Pin runs side by side")
        for label in ("#3 · layer 9 · coefficient 5.5", "#2 · layer 9 · coefficient 5"):
            pick_option(page, pin, label)
            page.keyboard.press("Escape")
        page.get_by_text("Run #3 · layer 9 · coefficient 5.5").wait_for(timeout=60_000)
        page.get_by_text("Run #2 · layer 9 · coefficient 5", exact=True).wait_for(timeout=60_000)
        assert page.locator(EXCEPTION).count() == 0
        rows = download_csv(page, index=1, keep_default_na=False)
        assert len(rows) == 3 * 3 * 2 and set(rows.run) == {1, 2, 3}
        assert {"run", "prompt", "layer", "coef", "pair", "seed", "continuation", "sentiment"} <= set(rows.columns)
        assert set(rows[rows.run == 3].coef) == {0.0, 5.5}
        page.get_by_text("Run history").scroll_into_view_if_needed()
        screenshot(page, "steering_history")
        page.evaluate("window.scrollTo(0, 0)")
        screenshot(page, "steering")
