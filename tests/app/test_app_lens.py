"""AppTest: Home, the Logit Lens page and model errors on the default model."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app.registry import EXPERIMENT_PAGES, ROOT

MAIN = str(ROOT / "app" / "main.py")
LENS = str(ROOT / "pages" / "logit_lens.py")


pytestmark = pytest.mark.usefixtures("fresh_streamlit")


def _app() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=30)
    return at


def test_home_renders_without_loading_a_model(monkeypatch):
    import hubcore.models.registry as models

    def _no_load(*_a, **_k):
        raise AssertionError("Home must not load a model")

    monkeypatch.setattr(models, "load_model", _no_load)
    at = _app().run()
    assert not at.exception
    assert at.title[0].value == "Semantic Hub Explorer"
    text = " ".join(m.value for m in at.markdown)
    assert "0 = embeddings" in text
    # one link per experiment page
    links = at.get("page_link")
    assert len(links) == len(EXPERIMENT_PAGES)


@pytest.mark.default_model
def test_logit_lens_page_computes_example(default_model):
    at = _app().run()
    at.switch_page(LENS).run(timeout=120)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    charts = at.get("vega_lite_chart")
    assert len(charts) == 2  # heatmap + target curves
    assert len(at.get("download_button")) == 4
    # the sidebar model card is there and names the real model
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "gemma3_text" in sidebar and "18 blocks" in sidebar


@pytest.mark.default_model
def test_logit_lens_page_empty_text_gives_clear_error(default_model):
    at = _app().run()
    at.switch_page(LENS).run(timeout=120)
    at.text_area[0].set_value("   ")
    at.button[0].click().run(timeout=60)
    assert not at.exception
    assert any("empty" in e.value for e in at.error)


@pytest.mark.default_model
def test_layer_range_redraw_keeps_result(default_model):
    at = _app().run()
    at.switch_page(LENS).run(timeout=120)
    at.slider(key="lens_layers").set_value((10, 18)).run(timeout=60)
    assert not at.exception
    assert len(at.get("vega_lite_chart")) == 2


def test_unknown_model_shows_error_not_traceback():
    at = _app().run()
    at.switch_page(LENS)
    at.session_state["model_choice"] = "Other (hub id, local folder or .gguf)…"
    at.session_state["model_custom"] = "no-such-org/no-such-model"
    at.run(timeout=60)
    assert not at.exception
    assert any("not in the local Hugging Face cache" in e.value for e in at.error)
