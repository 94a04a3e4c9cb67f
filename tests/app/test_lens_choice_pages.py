"""AppTest (issue 16): the lens-based tabs of the other pages offer the CLI's `--lens` choices, and
the choice reaches the run: with identity translators the tuned-lens strip reads exactly what the
logit-lens strip reads, and the reproduce command names the lens."""

from __future__ import annotations

import json

import pytest
import torch
from streamlit.testing.v1 import AppTest

from app.registry import ROOT
from hubcore import tuned_lens
from hubcore.lens import LENSES

MAIN = str(ROOT / "app" / "main.py")
CODE = str(ROOT / "pages" / "code_anchors.py")
pytestmark = [pytest.mark.usefixtures("fresh_streamlit"), pytest.mark.default_model]


def strip_tokens(chart) -> list:
    """The top tokens a strip chart draws, in order: from the data Streamlit ships beside the spec
    (Arrow IPC), or inline in the spec."""
    import pyarrow as pa

    frames = [pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in chart.proto.datasets]
    rows = [t for f in frames if "top_token" in f for t in f["top_token"]]
    if not rows:
        data = json.loads(chart.proto.spec).get("datasets", {})
        rows = [r["top_token"] for values in data.values() for r in values if "top_token" in r]
    assert rows, "the strip chart carries no top_token rows"
    return rows


def test_code_page_lens_choice_reaches_the_strip(default_model, monkeypatch):
    L, d = default_model.num_layers, default_model.hidden_size
    zero = tuned_lens.Translators(weight=torch.zeros(L, d, d), bias=torch.zeros(L, d), meta={"test": True})
    monkeypatch.setitem(tuned_lens._loaded, tuned_lens.fingerprint(default_model), zero)
    at = AppTest.from_file(MAIN, default_timeout=300).run()
    at.switch_page(CODE)
    at.session_state["code_n"] = 40
    at.run(timeout=300)
    assert not at.exception, at.exception
    for key in ("code_lens", "code_roles_lens", "code_strip_lens"):
        box = at.selectbox(key=key)
        assert list(box.options) == list(LENSES) and box.value == "logit"
    logit_chart = at.get("vega_lite_chart")[-1]
    logit_strip, logit_tokens = logit_chart.proto.spec, strip_tokens(logit_chart)
    at.selectbox(key="code_strip_lens").select("tuned").run(timeout=300)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    tuned_chart = at.get("vega_lite_chart")[-1]
    tuned_strip = tuned_chart.proto.spec
    assert "Top tuned-lens token" in tuned_strip and "Top logit-lens token" in logit_strip
    # identity translators: the tuned lens reads the same top token at every position
    assert strip_tokens(tuned_chart) == logit_tokens
    assert any("--lens tuned" in c.value for c in at.code)
