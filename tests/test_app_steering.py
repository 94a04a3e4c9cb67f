"""AppTest: the Steering page."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app.registry import ROOT

MAIN = str(ROOT / "app" / "main.py")


pytestmark = pytest.mark.usefixtures("fresh_streamlit")


def _app() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=30)
    return at


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
