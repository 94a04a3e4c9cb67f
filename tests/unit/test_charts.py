"""The one per-layer chart helper: titles that wrap, a plot that keeps its height, legend swatches
in the line's colour, a zero line on differences, human labels, and the verdict from the CIs.
Checked on the Vega the browser receives (vl-convert compiles and renders it as Streamlit would)."""

from __future__ import annotations

import json
import re

import altair as alt
import pandas as pd
import pytest
import vl_convert as vlc

from app.charts import (AXIS_TITLE_CHARS, MIN_HEIGHT, TITLE_CHARS, human, label_chars, layer_lines,
                        lens_heatmap, style)
from hubcore.verdicts import NONE, SHOWS


def curves(series=("english", "next"), slope=0.2) -> pd.DataFrame:
    rows = []
    for s in series:
        for layer in range(19):
            m = -5 + slope * layer if s == series[0] else -3.0
            rows.append((layer, s, m, m - 0.5, m + 0.5))
    return pd.DataFrame(rows, columns=["layer", "target", "mean_logprob", "ci_low", "ci_high"])


def plot_size(spec: dict, width: int = 600) -> tuple[float, float]:
    """Width and height of the plotting area once Vega has laid the chart out."""
    svg = vlc.vegalite_to_svg(json.dumps({**spec, "width": width}))
    w, h = re.findall(r'class="background"[^>]*d="M[\d.]+,[\d.]+h([\d.]+)v([\d.]+)', svg)[0]
    return float(w), float(h)


LONG_Y = "cos(sentence, its logical form) − baseline similarity (centered cosine)"
LONG_TITLE = ("Sentence vs its logical form, minus three baselines, on sixty generated examples "
              "with two distinct names each")


def test_the_plot_keeps_its_height_whatever_the_legend_and_titles():
    chart = layer_lines(curves(("nonmatching", "swapped_names", "swapped_shuffled")), y="mean_logprob",
                        series="target", band=("ci_low", "ci_high"), y_title=LONG_Y, title=LONG_TITLE)
    spec = style(chart).to_dict()
    assert spec["autosize"] == {"type": "fit-x", "contains": "padding"}  # width fitted, height kept
    _, height = plot_size(spec)
    assert height >= MIN_HEIGHT
    # what Streamlit does without an autosize of ours ("fit" into 320 px): the plot is squeezed
    _, squeezed = plot_size({**spec, "autosize": {"type": "fit", "contains": "padding"}, "height": 320})
    assert squeezed < MIN_HEIGHT * 0.7


def test_titles_wrap_instead_of_being_cut():
    chart = layer_lines(curves(), y="mean_logprob", series="target", y_title=LONG_Y, title=LONG_TITLE)
    spec = style(chart).to_dict()
    lines = spec["title"]["text"]
    assert isinstance(lines, list) and " ".join(lines) == LONG_TITLE
    assert all(len(line) <= TITLE_CHARS for line in lines)
    assert spec["config"]["title"]["limit"] == 0  # never truncated with "…"
    y_title = spec["layer"][-1]["encoding"]["y"]["title"]
    assert isinstance(y_title, list) and all(len(t) <= AXIS_TITLE_CHARS for t in y_title)


def test_legend_swatches_are_the_lines_own_colour_not_the_band():
    chart = layer_lines(curves(), y="mean_logprob", series="target", band=("ci_low", "ci_high"),
                        y_title="log p")
    vega = vlc.vegalite_to_vega(json.dumps(style(chart).to_dict()))
    (legend,) = vega["legends"]
    assert legend["symbolType"] == "stroke" and legend["symbolOpacity"] == 1
    assert legend["stroke"] == "color"  # drawn with the series colour scale, at full opacity
    marks = [m for g in vega["marks"] for m in [g, *g.get("marks", [])]]
    band = next(m for m in marks if m["type"] == "area")
    assert band["encode"]["update"]["opacity"]["value"] < 0.5  # the band alone is pale


def test_zero_line_only_on_difference_plots():
    diff = curves(("and - or",))
    with_zero = style(layer_lines(diff, y="mean_logprob", series="target", band=("ci_low", "ci_high"),
                                  y_title="d", zero=("' and'", "' or'"))).to_dict()
    plain = style(layer_lines(diff, y="mean_logprob", series="target", y_title="d")).to_dict()
    rules = [l for l in with_zero["layer"] if l.get("mark", {}).get("type") == "rule"]
    assert len(rules) == 1 and rules[0]["encoding"]["y"]["field"] == "zero"
    assert not [l for l in plain["layer"] if l.get("mark", {}).get("type") == "rule"]


def test_snake_case_becomes_human_labels():
    assert human("same_value") == "same value"
    assert human("exact_minus_rest") == "exact − rest"
    assert human("and - or") == "and − or"
    chart = layer_lines(curves(("same_value", "different_value")), y="mean_logprob", series="target",
                        y_title="cos")
    values = json.dumps(style(chart).to_dict()["datasets"])
    assert "same value" in values and "different value" in values


def test_every_ci_plot_carries_its_verdict_and_plots_without_cis_none():
    shows = layer_lines(curves(), y="mean_logprob", series="target", band=("ci_low", "ci_high"),
                        y_title="log p", compare=("english", "next"))
    assert [v.status for v in shows.verdicts] == [SHOWS]
    assert "English is above next at layers 16–18 and below it at layers 0–4" in shows.verdicts[0].sentence
    flat = layer_lines(curves(slope=0.0).assign(mean_logprob=0.0, ci_low=-1.0, ci_high=1.0),
                       y="mean_logprob", series="target", band=("ci_low", "ci_high"), y_title="d",
                       zero=("English", "the next token"))
    assert [v.status for v in flat.verdicts] == [NONE, NONE]  # one per line, each a null result
    assert "(english)" in flat.verdicts[0].sentence.lower()
    no_ci = layer_lines(curves(), y="mean_logprob", series="target", y_title="log p", compare=("english", "next"))
    assert getattr(no_ci, "verdicts", ()) == ()


@pytest.mark.parametrize("n_positions", [4, 48, 484])
def test_the_heatmap_never_asks_for_more_than_the_page_width(n_positions):
    cells = pd.DataFrame([(layer, p, f"tok{p}", f"out{p}", 0.5, "") for layer in range(19)
                          for p in range(n_positions)],
                         columns=["layer", "position", "input_token", "token", "prob", "top_k"])
    with alt.data_transformers.disable_max_rows():  # as Streamlit sends it (its own transformer)
        spec = style(lens_heatmap(cells, "t")).to_dict()
    assert "width" not in spec or not isinstance(spec["width"], dict)  # no per-cell step width
    assert spec["autosize"]["type"] == "fit-x"
    w, _ = plot_size(spec, width=900)
    assert w <= 900
    texts = [l for l in spec["layer"] if l.get("mark", {}).get("type") == "text"]
    assert bool(texts) == (label_chars(n_positions) >= 2)  # 484 columns: no labels, hover instead
