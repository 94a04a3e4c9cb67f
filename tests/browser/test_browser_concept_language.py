"""Real browser: the Concept vs language page run from links (the concept-patching tab and the
latent-language tab with its phases shaded), no exception box, the CSV holds what the chart draws;
screenshots go to docs/screenshots/concept_language*.png."""

from __future__ import annotations

import pytest

from tests.support.browser import browser_page, download_csv, screenshot, wait_chart

pytestmark = [pytest.mark.browser, pytest.mark.default_model]


def test_concept_patching_tab(server):
    with browser_page() as page:
        page.goto(server + "/concept_language?tab=Concept+vs+language&n=8&n_boot=200")
        wait_chart(page)
        curves = download_csv(page)
        assert list(curves.columns) == ["layer", "outcome", "prob", "ci_low", "ci_high", "n"]
        assert curves["outcome"].nunique() == 4 and (curves["n"] > 0).all()
        assert page.get_by_text("Switch layers", exact=False).count() > 0
        screenshot(page, "concept_language")


def test_latent_language_tab(server):
    with browser_page() as page:
        page.goto(server + "/concept_language?tab=Latent+language&latent.n=30&latent.task=translation")
        wait_chart(page)
        curves = download_csv(page)
        assert list(curves.columns) == ["layer", "language", "prob", "ci_low", "ci_high", "n"]
        assert set(curves["language"]) == {"en", "zh"}
        screenshot(page, "concept_language_latent")
