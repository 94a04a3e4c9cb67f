"""AppTest: Home and Logit Lens render on the default model without exceptions."""

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
    import hubcore.models as models

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


MULTI = str(ROOT / "pages" / "multilingual.py")


@pytest.mark.default_model
def test_multilingual_page_similarity_tab_runs(default_model):
    at = _app().run()
    at.switch_page(MULTI).run(timeout=300)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("vega_lite_chart")) == 2  # similarity + retrieval; other tabs wait for a click
    assert any("Run anchoring" in i.value for i in at.info)


@pytest.mark.default_model
def test_multilingual_language_tab_runs_on_click(default_model):
    at = _app().run()
    at.switch_page(MULTI).run(timeout=300)
    at.selectbox(key="lang_set").set_value("German–English (handwritten)")
    at.number_input(key="lang_n").set_value(2)
    next(b for b in at.button if b.label == "Run language probability").click()
    at.run(timeout=300)
    assert not at.exception, at.exception
    assert len(at.get("vega_lite_chart")) == 3
    assert any("Each bar splits" in c.value for c in at.caption)


def test_upload_error_is_a_message_not_a_traceback():
    """The shared upload parser's errors reach the user as one sentence."""
    from hubcore.data.uploads import parse_pairs
    from hubcore.errors import InputError

    with pytest.raises(InputError, match="Line 2 of bad.tsv has 1 column"):
        parse_pairs(b"a\tb\nonly-one-column\n", "bad.tsv")


ARITH = str(ROOT / "pages" / "arithmetic.py")


@pytest.mark.default_model
def test_arithmetic_page_runs(default_model):
    at = _app().run()
    at.switch_page(ARITH).run(timeout=300)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("vega_lite_chart")) == 4  # buckets, exact-minus-rest, lens, PCA


SEM = str(ROOT / "pages" / "semantics.py")


@pytest.mark.default_model
def test_semantics_page_runs(default_model):
    at = _app().run()
    at.switch_page(SEM)
    at.session_state["sem_n"] = 20
    at.run(timeout=300)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("vega_lite_chart")) == 1
    assert any("Run thematic roles" in i.value for i in at.info)


CODE = str(ROOT / "pages" / "code_anchors.py")


@pytest.mark.default_model
def test_code_page_runs(default_model):
    at = _app().run()
    at.switch_page(CODE)
    at.session_state["code_n"] = 6
    at.run(timeout=300)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("vega_lite_chart")) == 3  # list literals, and−or difference, lens strip


STEER = str(ROOT / "pages" / "steering.py")


@pytest.mark.default_model
def test_steering_page_side_by_side_and_sliders(default_model):
    at = _app().run()
    at.switch_page(STEER)
    at.session_state["st_seeds"] = 1
    at.session_state["st_new"] = 6
    at.session_state["st_greedy"] = True
    at.run(timeout=300)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    heads = [m.value for m in at.markdown if m.value.startswith("**")]
    assert heads[:3] == ["**Unsteered**", "**Steered with es: Bueno − Malo**", "**Steered with en: Good − Bad**"]
    before = [t.value for t in at.text]
    assert len(before) == 3 and all(t.startswith(at.text_input(key="st_text_es_0").value) for t in before)
    # a strong negative coefficient at a middle layer changes the steered generations
    at.slider(key="st_coef").set_value(-40.0).run(timeout=300)
    after = [t.value for t in at.text]
    assert not at.exception and after[0] == before[0] and after[1:] != before[1:]
    # coefficient 0: only the unsteered column
    at.slider(key="st_coef").set_value(0.0).run(timeout=300)
    assert [m.value for m in at.markdown if m.value.startswith("**")][0] == "**Unsteered (coefficient 0)**"
    # the sweep runs on click and draws a chart per metric choice
    at.session_state["st_n"] = 2
    at.text_input(key="st_coefs").set_value("-8, 0, 8")
    next(b for b in at.button if b.label == "Run sweep").click().run(timeout=300)
    assert not at.exception, at.exception
    assert len(at.get("vega_lite_chart")) >= 1
    texts = [m.value for m in at.markdown] + [i.value for i in at.info]
    assert any("shift" in t or "No setting moved" in t for t in texts)
