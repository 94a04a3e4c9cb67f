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


def test_builtin_recording_is_transcribed_in_its_own_language():
    """Issue 14: a built-in recording's language is known, so the language token defaults to it
    (detection heard this Spanish prompt as Portuguese); an upload keeps "detect"."""
    at = AppTest.from_file(MAIN, default_timeout=30).run()
    at.switch_page(PAGE).run(timeout=180)
    at.selectbox(key="audio_lang").set_value("es").run(timeout=180)
    assert not at.exception, at.exception
    token = at.selectbox(key="audio_force_Asterisk recording_es")
    assert token.value == "es"
    said = " ".join(s.value for s in at.success)
    assert "[es]" in said and "conferencia" in said.lower()
    code = " ".join(c.value for c in at.code)  # the reproduce command names the language
    assert "audio transcribe --audio" in code and "--language es" in code
    at.radio(key="audio_kind").set_value("Upload").run(timeout=60)
    assert at.selectbox(key="audio_force_Upload_").value == "detect"


def test_audio_page_bad_model_spec_is_one_sentence():
    at = AppTest.from_file(MAIN, default_timeout=30).run()
    at.switch_page(PAGE).run(timeout=60)
    at.text_input(key="audio_model").set_value("/nonexistent/whisper").run(timeout=60)
    assert not at.exception
    assert any("config.json" in e.value or "does not" in e.value for e in at.error), [e.value for e in at.error]


def test_audio_link_opens_its_recording_and_settings():
    """A shared link names the sound by its path (as --audio does) and each tab's options with
    their prefix; the page opens on them."""
    from hubcore.experiments.audio import asterisk_clips

    clip = next(c for c in asterisk_clips("fr") if c.id == "vm-goodbye")
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.query_params.update({"audio": clip.path, "language": "fr", "steer.layer": "2", "steer.once": "1",
                            "label.n": "3"})
    at.run(timeout=180)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="audio_lang").value == "fr" and at.selectbox(key="audio_clip").value == "vm-goodbye"
    assert "[fr]" in " ".join(s.value for s in at.success)
    assert at.slider(key="ad_layer").value == 2 and at.toggle(key="ad_once").value
    assert at.number_input(key="aa_n").value == 3
    assert at.query_params["audio"] == clip.path and at.query_params["language"] == "fr"
