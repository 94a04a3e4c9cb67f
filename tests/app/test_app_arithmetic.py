"""AppTest: the Arithmetic page."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app.registry import ROOT

MAIN = str(ROOT / "app" / "main.py")


pytestmark = pytest.mark.usefixtures("fresh_streamlit")


def _app() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=30)
    return at


ARITH = str(ROOT / "pages" / "arithmetic.py")


@pytest.mark.default_model
def test_arithmetic_page_runs(default_model):
    at = _app().run()
    at.switch_page(ARITH).run(timeout=300)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("vega_lite_chart")) == 4  # buckets, exact-minus-rest, lens, PCA
    # raw cosine is ~1 for every bucket on the embedded model: the page opens on the centred one
    assert at.radio(key="ar_metric").value == "centered"
    commands = [c.value for c in at.code]
    for name in ("similarity", "lens", "trajectories"):
        assert any(c.startswith(f"python -m hubcore arithmetic {name} ") for c in commands), commands
