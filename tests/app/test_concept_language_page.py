"""AppTest: the Concept vs language page (patching concept, patching mean, latent language)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app.registry import EXPERIMENT_PAGES, ROOT

MAIN = str(ROOT / "app" / "main.py")
PAGE = str(ROOT / "pages" / "concept_language.py")

pytestmark = pytest.mark.usefixtures("fresh_streamlit")


def test_the_page_is_listed_at_its_url():
    assert any(p.file == "concept_language.py" and p.url_path == "concept_language" for p in EXPERIMENT_PAGES)


@pytest.mark.default_model
def test_page_opens_behind_its_buttons(default_model):
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    at.switch_page(PAGE)
    at.run(timeout=120)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert not at.get("vega_lite_chart")  # nothing computed before a button or a link
    infos = " ".join(i.value for i in at.info)
    assert "Run patching" in infos and "Run mean-latent patching" in infos and "Run latent language" in infos


@pytest.mark.default_model
def test_links_run_the_concept_and_latent_language_tabs(default_model):
    """A link naming a tab and its parameters runs it and shows the reproducing command."""
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    at.switch_page(PAGE)
    at.query_params["tab"] = "Concept vs language"
    at.query_params["n"] = "4"
    at.query_params["n_boot"] = "50"
    at.run(timeout=600)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.number_input(key="cl_n").value == 4
    assert len(at.get("vega_lite_chart")) == 1
    commands = [c.value for c in at.code]
    assert any(c.startswith("python -m hubcore patching concept ") and "--n 4" in c for c in commands), commands
    assert any("Switch layers" in c.value for c in at.caption)

    at = AppTest.from_file(MAIN, default_timeout=60).run()
    at.switch_page(PAGE)
    at.query_params["tab"] = "Latent language"
    at.query_params["latent.n"] = "12"
    at.query_params["latent.task"] = "repetition"
    at.run(timeout=600)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="cll_task").value == "repetition" and at.number_input(key="cll_n").value == 12
    assert len(at.get("vega_lite_chart")) == 1
    commands = [c.value for c in at.code]
    assert any(c.startswith("python -m hubcore latent-language --task repetition") and "--n 12" in c
               for c in commands), commands
