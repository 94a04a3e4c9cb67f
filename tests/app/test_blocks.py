"""AppTest on small scripts: the output block shows each chart's verdict (computed from its CIs,
never written by the page) and keeps exports and the reproduce command in a container presenter
mode hides."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.usefixtures("fresh_streamlit")


def block_script() -> None:
    import pandas as pd
    import streamlit as st

    from app.blocks import output_block
    from app.charts import layer_lines
    from hubcore.experiments.registry import find

    rows = [(layer, s, m, m - 0.3, m + 0.3) for layer in range(10)
            for s, m in (("english", -6.0 + layer), ("next", -2.0))]
    df = pd.DataFrame(rows, columns=["layer", "target", "mean_logprob", "ci_low", "ci_high"])
    chart = layer_lines(df, y="mean_logprob", series="target", band=("ci_low", "ci_high"),
                        y_title="log p", title="English vs next", compare=("english", "next"))
    flat = layer_lines(df.assign(ci_low=-9.0, ci_high=9.0), y="mean_logprob", series="target",
                       band=("ci_low", "ci_high"), y_title="log p", compare=("english", "next"))
    output_block(df, [chart, flat], "demo", find("anchoring"), {"texts": "x", "lang": "zh"}, None,
                 caption="A caption.")
    st.session_state["shown"] = True


def test_each_chart_gets_its_verdict_line_under_it():
    at = AppTest.from_function(block_script, default_timeout=60).run()
    assert not at.exception, at.exception
    verdicts = [m.value for m in at.markdown if "Verdict." in m.value]
    assert len(verdicts) == 2
    assert ":material/check_circle:" in verdicts[0]
    assert "English is above next at layers 5–9 and below it at layers 0–3 (95% CIs)" in verdicts[0]
    assert ":material/do_not_disturb_on:" in verdicts[1] and "null result" in verdicts[1]
    assert len(at.get("vega_lite_chart")) == 2 and at.caption[0].value == "A caption."
    assert len(at.get("download_button")) == 2  # one CSV + one PNG for both charts


def test_exports_and_reproduce_sit_in_the_container_presenter_mode_hides():
    at = AppTest.from_function(block_script, default_timeout=60).run()
    keyed = [node for node in at.main.children.values()
             if getattr(node, "type", "") == "flex_container" and "hub-advanced-out-demo" in node.proto.id]
    assert len(keyed) == 1
    inside = keyed[0]
    assert len(inside.get("download_button")) == 2 and len(inside.get("expander")) == 1
    # the charts and their verdicts stay outside it: presenter mode shows them
    assert not inside.get("vega_lite_chart") and not [m for m in inside.get("markdown") if "Verdict." in m.value]
