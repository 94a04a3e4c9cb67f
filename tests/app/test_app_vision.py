"""AppTest for the Vision page: the bring-a-model panel without a model, and the full page on a
saved tiny LLaVA folder (loaded like a user's model)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app.registry import ROOT
from tests.support.tiny_vlms import save_tiny_vlm

MAIN = str(ROOT / "app" / "main.py")
VISION = str(ROOT / "pages" / "vision.py")


@pytest.fixture(autouse=True)
def _no_env_model(monkeypatch, fresh_streamlit):
    monkeypatch.delenv("HUBCORE_VISION_MODEL", raising=False)


def test_bring_a_model_panel_without_a_model(monkeypatch):
    import hubcore.models as models
    import hubcore.models.registry as registry
    import hubcore.models.vision as vmodels

    def _no_load(*_a, **_k):
        raise AssertionError("the panel must not load any model")

    monkeypatch.setattr(models, "load_model", _no_load)
    monkeypatch.setattr(registry, "load_model", _no_load)  # every kind loads through the registry
    monkeypatch.setattr(vmodels, "load_vision_model", _no_load)
    at = AppTest.from_file(MAIN, default_timeout=30).run()
    at.switch_page(VISION).run()
    assert not at.exception, at.exception
    assert any("Bring a vision-language model" in h.value for h in at.subheader)
    text = " ".join(m.value for m in at.markdown)
    assert "llava-hf/llava-1.5-7b-hf" in text and "local model folder" in text
    assert "Allow downloads from the hub" in text
    assert any("--model llava-hf/llava-1.5-7b-hf" in c.value for c in at.code)


def test_full_page_on_a_saved_tiny_model(tmp_path):
    folder = save_tiny_vlm("llava", tmp_path / "llava")
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    at.switch_page(VISION)
    at.session_state["vision_model"] = str(folder)
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("vega_lite_chart")) == 2  # share curves + the patch grid over the image
    for key in ("Run similarity", "Run caption nouns", "Run replacement"):
        next(b for b in at.button if b.label == key).click()
        at.run()
        assert not at.exception, at.exception
        assert not at.error, [e.value for e in at.error]
    assert len(at.get("vega_lite_chart")) == 5


def test_unknown_vision_model_is_a_sentence():
    at = AppTest.from_file(MAIN, default_timeout=30).run()
    at.switch_page(VISION)
    at.session_state["vision_model"] = "no-such-org/no-such-vlm"
    at.run()
    assert not at.exception
    assert any("not in the local Hugging Face cache" in e.value for e in at.error)


def test_link_presets_and_reproduce_commands(tmp_path):
    """Each tab's options come from the URL (prefixed keys), and every result names the command
    that regenerates it, the model included."""
    folder = save_tiny_vlm("llava", tmp_path / "llava")
    at = AppTest.from_file(VISION, default_timeout=60)
    at.session_state["vision_model"] = str(folder)
    at.query_params.update({"baseline": "black", "colours": "red,green", "sim.images": "emoji",
                            "replace.strength": "1.5", "align.top_k": "3"})
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="vis_baseline").value == "black"
    assert at.radio(key="vis_kind").value == "emoji"
    assert at.number_input(key="vis_rep_strength").value == 1.5 and at.number_input(key="vis_align_k").value == 3
    commands = [c.value for c in at.code]
    assert (f"python -m hubcore vision lens --colours red green --baseline black --model {folder} "
            "--out vision_lens.csv") in commands
    next(b for b in at.button if b.label == "Run replacement").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(c.value.startswith("python -m hubcore vision replace --strength 1.5 --model") for c in at.code)
