"""AppTest: the Code page."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app.registry import ROOT

MAIN = str(ROOT / "app" / "main.py")


pytestmark = pytest.mark.usefixtures("fresh_streamlit")


def _app() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=30)
    return at


CODE = str(ROOT / "pages" / "code_anchors.py")


@pytest.mark.default_model
def test_code_page_runs(default_model):
    at = _app().run()
    at.switch_page(CODE)
    at.session_state["code_n"] = 40  # the first list comma in code is in program 20
    at.run(timeout=300)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("vega_lite_chart")) == 3  # list literals, and−or difference, lens strip
