"""The checkup on the embedded default model: its hub is the one the Multilingual page shows."""

from __future__ import annotations

import pytest
from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest

from app.registry import ROOT
from hubcore.experiments.checkup import checkup

pytestmark = [pytest.mark.default_model, pytest.mark.usefixtures("fresh_streamlit")]


def page_retrieval(at: AppTest):
    """The centred retrieval@1 curve the Multilingual page draws (from the chart's own data)."""
    for chart in at.get("vega_lite_chart"):
        for ds in chart.proto.datasets:
            df = dataframe_util.convert_arrow_bytes_to_pandas_df(ds.data.data)
            if {"layer", "metric", "retrieval_at_1"} <= set(df.columns):
                return df[df["metric"] == "centered"].set_index("layer")["retrieval_at_1"].sort_index()
    raise AssertionError("the Multilingual page drew no retrieval@1 chart")


def test_hub_layer_is_the_one_the_multilingual_page_shows(default_model):
    res = checkup(default_model, budget="fast", checks=("similarity_zh_en",))
    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=30).run()
    at.switch_page(str(ROOT / "pages" / "multilingual.py")).run(timeout=600)
    assert not at.exception, at.exception
    shown = page_retrieval(at)
    ours = res.curves[(res.curves["measure"] == "retrieval@1") & (res.curves["series"] == "centered")]
    assert ours.set_index("x")["value"].round(6).tolist() == shown.round(6).tolist()  # the same run
    assert res.hub_layer == int(shown.idxmax()) == 13
    assert res.verdicts["hub"] == "shows" and res.hub_retrieval == pytest.approx(shown.max())
