"""AppTest: the Audio page transcribes a real recording by default and runs experiment (a)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app.registry import ROOT

MAIN = str(ROOT / "app" / "main.py")
PAGE = str(ROOT / "pages" / "audio.py")


pytestmark = pytest.mark.usefixtures("fresh_streamlit")


def test_audio_page_transcribes_and_runs_audio_vs_label(monkeypatch):
    import hubcore.models as models
    import hubcore.models.text as text

    def _no_lm(*_a, **_k):
        raise AssertionError("the Audio page must not load the text LM")

    monkeypatch.setattr(models, "load_model", _no_lm)
    monkeypatch.setattr(text, "load_text_model", _no_lm)  # the registry's loader for kind "text"
    at = AppTest.from_file(MAIN, default_timeout=30).run()
    at.switch_page(PAGE).run(timeout=180)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    said = " ".join(s.value for s in at.success)
    assert "[en]" in said and "conference number" in said.lower()  # the default English prompt
    # experiment (a) with two clips and a few resamples
    at.number_input(key="aa_n").set_value(2)
    at.number_input(key="aa_boot").set_value(20)
    at.button(key="FormSubmitter:audio_a-Run audio vs label").click().run(timeout=180)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("vega_lite_chart")) == 1
    table = at.dataframe[0].value
    assert list(table.layer) == list(range(7))  # decoder layers 0..6


def test_audio_page_bad_model_spec_is_one_sentence():
    at = AppTest.from_file(MAIN, default_timeout=30).run()
    at.switch_page(PAGE).run(timeout=60)
    at.text_input(key="audio_model").set_value("/nonexistent/whisper").run(timeout=60)
    assert not at.exception
    assert any("config.json" in e.value or "does not" in e.value for e in at.error), [e.value for e in at.error]
