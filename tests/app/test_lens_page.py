"""AppTest, Logit Lens page: targets follow the text, a long text is windowed and its token list
folds, a stopped run keeps the previous result, presenter mode."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from app.registry import ROOT
from app.running import STOPPED, run_key
from hubcore.experiments.logit_lens import logit_lens
from hubcore.experiments.registry import of
from hubcore.models import ModelSpec

MAIN = str(ROOT / "app" / "main.py")
LENS = str(ROOT / "pages" / "logit_lens.py")
pytestmark = [pytest.mark.usefixtures("fresh_streamlit"), pytest.mark.default_model]


def lens_page() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=240).run()
    at.switch_page(LENS).run()
    assert not at.exception, at.exception
    return at


def chart_data(at: AppTest, index: int = 0) -> list[dict]:
    """The rows a chart draws (Streamlit ships its datasets as Arrow beside the spec)."""
    import pyarrow as pa

    proto = at.get("vega_lite_chart")[index].proto
    return [row for ds in proto.datasets
            for row in pa.ipc.open_stream(ds.data.data).read_pandas().to_dict("records")]


def run_text(at: AppTest, text: str) -> AppTest:
    at.text_area(key="lens_text").set_value(text)
    at.button[0].click().run()  # the form's Run
    assert not at.exception, at.exception
    return at


def test_picking_an_example_fills_its_text_and_targets(default_model):
    at = lens_page()
    assert at.selectbox(key="lens_example").value == "Chinese (paper's example)"
    at.selectbox(key="lens_example").select("Spanish").run()
    assert at.text_area(key="lens_text").value == "Hoy es un buen"
    assert at.text_input(key="lens_targets").value == "day, día"
    assert len(at.get("vega_lite_chart")) == 2  # heatmap + target curves


def test_editing_the_text_makes_it_custom_and_the_targets_follow(default_model):
    at = run_text(lens_page(), "Hoy es un buen")
    assert at.selectbox(key="lens_example").value == "Custom"
    assert at.text_input(key="lens_targets").value == ""  # "day, 天" did not stay
    assert len(at.get("vega_lite_chart")) == 1
    tip = " ".join(i.value for i in at.info)
    assert "Worth tracking" in tip
    at.button(key="lens_track").click().run()
    targets = at.text_input(key="lens_targets").value
    assert targets and "天" not in targets
    assert len(at.get("vega_lite_chart")) == 2
    lines = {row["target"] for row in chart_data(at, 1)}
    assert lines == {t.strip() for t in targets.split(",")}


def test_a_long_text_is_windowed_and_its_token_list_folds(default_model):
    text = " ".join(f"word{i}" for i in range(40))  # ~80 tokens
    at = run_text(lens_page(), text)
    n = len(default_model.tokenizer(text)["input_ids"])
    assert n > 48
    window = next(s for s in at.slider if str(s.key).startswith("lens_positions_"))
    assert window.value == (n - 48, n - 1)
    positions = {row["position"] for row in chart_data(at, 0)}
    assert positions == set(range(n - 48, n))
    assert any(f"Input tokens ({n})" in e.label for e in at.expander)
    assert not any(f"{n} tokens:" in c.value for c in at.caption)


def test_a_long_text_reads_only_its_window_until_every_position_is_asked_for(default_model, monkeypatch):
    """Issue 17: the lens reads the heatmap's window, a moved window reads the new positions, and
    "Read every position" reads them all (the window then moves without a run)."""
    import hubcore.experiments.logit_lens as L

    read: list[list[int]] = []
    real = L.lens_at

    def spy(model, encoded, positions=None, **kw):
        read.append(list(positions[0]))
        return real(model, encoded, positions=positions, **kw)

    monkeypatch.setattr(L, "lens_at", spy)
    text = " ".join(f"term{i}" for i in range(40))
    at = run_text(lens_page(), text)
    n = len(default_model.tokenizer(text)["input_ids"])
    assert read[-1] == list(range(n - 48, n))
    assert any("Read: positions" in c.value for c in at.caption)
    window = next(s for s in at.slider if str(s.key).startswith("lens_positions_"))
    window.set_value((0, 9)).run()
    assert read[-1] == list(range(0, 10))
    assert {row["position"] for row in chart_data(at, 0)} == set(range(0, 10))
    at.toggle(key="lens_every").set_value(True)
    at.button[0].click().run()
    assert read[-1] == list(range(n)) and not at.exception
    runs = len(read)
    next(s for s in at.slider if str(s.key).startswith("lens_positions_")).set_value((5, 20)).run()
    assert len(read) == runs  # every position is read already: the window only filters
    assert {row["position"] for row in chart_data(at, 0)} == set(range(5, 21))


def test_a_stopped_run_says_so_and_keeps_the_previous_result(default_model):
    at = lens_page()
    before = chart_data(at, 0)
    # the key of the page's call (the registry fills the parameters the page does not set)
    kwargs, _ = of(logit_lens).call_kwargs({"text": "Hoy es un buen", "top_k": 5, "targets": [], "raw": False})
    key = run_key(logit_lens, ModelSpec(), kwargs)
    at.session_state[STOPPED] = {key: (0.4, 12.0, "Lens: layers 4–5 of 18")}
    run_text(at, "Hoy es un buen")
    note = " ".join(i.value for i in at.info)
    assert "Stopped at 40% after 12 s (Lens: layers 4–5 of 18). Showing the previous result." in note
    assert chart_data(at, 0) == before  # the Chinese example's heatmap, as before
    at.button(key=f"again-{abs(hash(key))}").click().run()
    assert {row["input_token"] for row in chart_data(at, 0)} >= {"Hoy"}


def test_presenter_mode_enlarges_charts_and_hides_advanced_controls(default_model):
    at = lens_page()
    normal = json.loads(at.get("vega_lite_chart")[1].proto.spec)
    at.sidebar.toggle(key="presenter").set_value(True).run()
    big = json.loads(at.get("vega_lite_chart")[1].proto.spec)
    assert big["height"] > normal["height"]
    assert big["config"]["axis"]["labelFontSize"] > normal["config"]["axis"]["labelFontSize"]
    css = " ".join(m.value for m in at.markdown if "<style>" in m.value)
    assert "st-key-hub-advanced" in css and "display: none" in css
    assert not any("<style>" in m.value for m in lens_page().markdown)  # off by default
