"""AppTest, Logit Lens page (issue 16): the lens choice reruns the heatmap through the chosen lens,
and the lens-quality section draws KL per layer for the logit and the tuned lens."""

from __future__ import annotations

import pytest
import torch
from streamlit.testing.v1 import AppTest

from app.registry import ROOT
from hubcore import tuned_lens

MAIN = str(ROOT / "app" / "main.py")
LENS = str(ROOT / "pages" / "logit_lens.py")
pytestmark = [pytest.mark.usefixtures("fresh_streamlit"), pytest.mark.default_model]


@pytest.fixture
def identity_tuned_lens(default_model, monkeypatch):
    """Zero translators for the default model, held in memory only (the user's cache is untouched):
    the tuned lens then reads exactly like the logit lens."""
    L, d = default_model.num_layers, default_model.hidden_size
    tr = tuned_lens.Translators(weight=torch.zeros(L, d, d), bias=torch.zeros(L, d), meta={"test": True})
    monkeypatch.setitem(tuned_lens._loaded, tuned_lens.fingerprint(default_model), tr)
    yield tr


def lens_page() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=900).run()
    at.switch_page(LENS).run()
    assert not at.exception, at.exception
    return at


def test_the_lens_choice_switches_the_heatmap_to_the_patchscope(default_model):
    at = lens_page()
    assert at.selectbox(key="lens_choice").value == "logit"
    assert list(at.selectbox(key="lens_choice").options) == ["logit", "tuned", "patchscope"]
    at.text_area(key="lens_text").set_value("Hola")
    at.selectbox(key="lens_choice").select("patchscope")
    at.button[0].click().run()  # the form's Run
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    spec = at.get("vega_lite_chart")[0].proto.spec
    assert "Top-1 patchscope-lens token" in spec
    assert any("--lens patchscope" in c.value for c in at.code)


def test_lens_quality_draws_both_lenses(default_model, identity_tuned_lens):
    at = lens_page()
    assert any("Measure KL per layer" in i.value for i in at.info)
    charts = len(at.get("vega_lite_chart"))
    at.number_input(key="lq_texts").set_value(2)
    next(b for b in at.button if "Measure KL" in str(b.label)).click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("vega_lite_chart")) == charts + 1
    spec = at.get("vega_lite_chart")[-1].proto.spec
    assert "KL(final" in spec
    command = next(c.value for c in at.code if "lens-quality" in c.value)
    assert command.startswith("python -m hubcore lens-quality") and "--max-texts 2" in command
