"""Chart helpers shared by every page (Altair), and CSV/PNG export buttons."""

from __future__ import annotations

import glob
from functools import lru_cache
from typing import Callable

import altair as alt
import pandas as pd
import streamlit as st

CELL_WIDTH = 58
CELL_HEIGHT = 22


def _short(token: str, width: int = 8) -> str:
    shown = token.replace("\n", "⏎").replace(" ", "␣")
    return shown if len(shown) <= width else shown[: width - 1] + "…"


def lens_heatmap(cells: pd.DataFrame, title: str = "") -> alt.Chart:
    """Layer x position grid: top-1 lens token written in each cell, colour = its probability."""
    df = cells.copy()
    df["column"] = df["position"].astype(str).str.zfill(3) + " " + df["input_token"].map(_short)
    df["label"] = df["token"].map(_short)
    x = alt.X("column:O", title="position · input token", sort="ascending",
              axis=alt.Axis(labelAngle=-45, labelExpr="substring(datum.value, 4)"))
    y = alt.Y("layer:O", title="layer (0 = embeddings)", sort="descending")
    base = alt.Chart(df).encode(x=x, y=y)
    rect = base.mark_rect().encode(
        color=alt.Color("prob:Q", title="p(top-1)", scale=alt.Scale(scheme="viridis", domain=[0, 1])),
        tooltip=[
            alt.Tooltip("layer:O"),
            alt.Tooltip("position:O"),
            alt.Tooltip("input_token:N", title="input token"),
            alt.Tooltip("token:N", title="top-1"),
            alt.Tooltip("prob:Q", format=".3f"),
            alt.Tooltip("top_k:N", title="top-k"),
        ],
    )
    text = base.mark_text(fontSize=10).encode(
        text="label:N",
        color=alt.condition("datum.prob > 0.55", alt.value("black"), alt.value("white")),
    )
    return (rect + text).properties(
        width=alt.Step(CELL_WIDTH), height=alt.Step(CELL_HEIGHT), title=title
    )


def layer_lines(df: pd.DataFrame, y: str, series: str, y_title: str, title: str = "",
                band: tuple[str, str] | None = None, y_floor: float | None = None,
                x: str = "layer", x_title: str = "layer (0 = embeddings)") -> alt.Chart:
    """A per-layer line chart, one line per `series`, with an optional CI band (low, high).

    `y_floor` clamps very low values (early-layer log-probs of -100) so the range that matters
    stays readable; the caller says so in its caption.
    """
    scale = alt.Scale(zero=False)
    if y_floor is not None and len(df) and df[y].min() < y_floor:
        scale = alt.Scale(domainMin=y_floor, clamp=True, zero=False)
    base = alt.Chart(df).encode(
        x=alt.X(f"{x}:Q", title=x_title, axis=alt.Axis(tickMinStep=1) if x == "layer" else alt.Axis()),
        color=alt.Color(f"{series}:N", title=series.replace("_", " "),
                        legend=alt.Legend(orient="bottom", labelLimit=400, columns=2)),
    )
    line = base.mark_line(point=True).encode(
        y=alt.Y(f"{y}:Q", title=y_title, scale=scale),
        tooltip=[alt.Tooltip(f"{x}:Q"), alt.Tooltip(f"{series}:N"), alt.Tooltip(f"{y}:Q", format=".3f")],
    )
    chart = line
    if band is not None:
        chart = base.mark_area(opacity=0.2).encode(y=f"{band[0]}:Q", y2=f"{band[1]}:Q") + line
    return chart.properties(height=320, title=title)


@lru_cache(maxsize=1)
def _fonts_registered() -> bool:
    """Let the PNG renderer use system fonts (CJK and emoji included)."""
    import vl_convert as vlc

    for folder in sorted(set(glob.glob("/usr/share/fonts/*"))):
        try:
            vlc.register_font_directory(folder)
        except Exception:  # a folder the renderer cannot read is simply skipped
            pass
    return True


@st.cache_data(max_entries=32, show_spinner=False)
def chart_png(spec_json: str) -> bytes:
    """Render a Vega-Lite spec to PNG (cached: the same chart is rendered once)."""
    import vl_convert as vlc

    _fonts_registered()
    return vlc.vegalite_to_png(spec_json, scale=2)


def export_buttons(df: pd.DataFrame, chart: alt.TopLevelMixin | None, stem: str) -> None:
    """CSV (and PNG when a chart is given) download buttons side by side."""
    cols = st.columns(2 if chart is not None else 1)
    cols[0].download_button(
        # CRLF rows: the csv writer then quotes cells holding a bare "\r" (Gemma has such tokens),
        # which would otherwise split a row in every CSV reader
        "Download CSV", df.to_csv(index=False, lineterminator="\r\n").encode("utf-8"),
        file_name=f"{stem}.csv",
        mime="text/csv", icon=":material/download:", key=f"csv-{stem}",
        on_click="ignore",  # a download changes nothing: no rerun (which would interrupt a running one)
    )
    if chart is not None:
        # rendered only when clicked (on a worker thread): a display-only rerun stays fast
        cols[1].download_button(
            "Download PNG", _deferred_png(chart), file_name=f"{stem}.png", mime="image/png",
            icon=":material/image:", key=f"png-{stem}",
        )


def _deferred_png(chart: alt.TopLevelMixin) -> Callable[[], bytes]:
    """A callable for `st.download_button` that renders the chart to PNG when clicked.

    A chart the renderer cannot draw yields its Vega-Lite JSON instead (the download then says
    why in its first bytes) rather than breaking the page.
    """
    def render() -> bytes:
        spec = chart.to_json()
        try:
            return chart_png(spec)
        except Exception as exc:  # rendering problems must not break the page
            return f"PNG export unavailable ({exc}); Vega-Lite spec follows\n{spec}".encode("utf-8")

    return render


def stacked_layers(df: pd.DataFrame, value: str, category: str, title: str = "",
                   order: list[str] | None = None,
                   x_title: str = "layer (0 = embeddings)") -> alt.Chart:
    """Stacked bars of shares that sum to one per x (a layer, or a steering strength)."""
    return alt.Chart(df).mark_bar().encode(
        x=alt.X("layer:O", title=x_title),
        y=alt.Y(f"{value}:Q", title="share", stack="normalize", axis=alt.Axis(format="%")),
        color=alt.Color(f"{category}:N", title=category, sort=order),
        order=alt.Order(f"{category}:N"),
        tooltip=[alt.Tooltip("layer:O"), alt.Tooltip(f"{category}:N"),
                 alt.Tooltip(f"{value}:Q", format=".3f")],
    ).properties(height=320, title=title)


def trajectory_plane(anchors: pd.DataFrame, paths: pd.DataFrame, title: str = "") -> alt.Chart:
    """Labelled anchor points plus one path per text through the layers (colour = layer)."""
    points = alt.Chart(anchors).mark_point(filled=True, size=80, color="black").encode(
        x=alt.X("x:Q", title="PC 1"), y=alt.Y("y:Q", title="PC 2"),
        tooltip=["label:N", "token:N"],
    )
    labels = points.mark_text(dy=-10, fontSize=12).encode(text="label:N")
    line = alt.Chart(paths).mark_line(opacity=0.5).encode(
        x="x:Q", y="y:Q", detail="text:N", order="layer:Q", color=alt.value("#999"),
    )
    dots = alt.Chart(paths).mark_circle(size=60).encode(
        x="x:Q", y="y:Q",
        color=alt.Color("layer:Q", scale=alt.Scale(scheme="viridis"), title="layer"),
        tooltip=["text:N", "layer:Q", alt.Tooltip("top_token:N", title="top lens token")],
    )
    return (line + dots + points + labels).properties(height=460, title=title)


def token_strip(df: pd.DataFrame, title: str = "") -> alt.Chart:
    """Figure-7 style strip: each input token (bottom row) under its top lens token (top row),
    the lens token coloured by its probability; wraps into lines of 16 tokens."""
    d = df.copy()
    d["line"] = d["position"] // 16
    d["col"] = d["position"] % 16
    d["input"] = d["input_token"].map(lambda t: _short(t, 10))
    d["lens"] = d["top_token"].map(lambda t: _short(t, 10))
    base = alt.Chart(d).encode(x=alt.X("col:O", axis=None), y=alt.Y("line:O", axis=None))
    cells = base.mark_rect(height=34, width=70).encode(
        color=alt.Color("prob:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), title="p(lens top-1)"),
        tooltip=["position:Q", "input_token:N", "top_token:N", alt.Tooltip("prob:Q", format=".3f")],
    )
    lens = base.mark_text(dy=-8, fontSize=11, fontWeight="bold").encode(text="lens:N")
    inp = base.mark_text(dy=9, fontSize=10, color="#555").encode(text="input:N")
    return (cells + lens + inp).properties(width=alt.Step(74), height=alt.Step(40), title=title)


def patch_grid(cells: pd.DataFrame, image_png: bytes, title: str = "", size: int = 360,
               colour: str = "reads") -> alt.Chart:
    """Image patches as a grid drawn over the image: each cell shows its top-1 lens token,
    tinted by `colour` (a category such as colour/baseline/other) with hover details.
    `cells` holds row, col, token, prob (one layer). Image and cells share one quantitative
    scale (columns x rows), so they stay aligned whatever the rendered size."""
    import base64

    rows = int(cells["row"].max()) + 1 if len(cells) else 1
    cols = int(cells["col"].max()) + 1 if len(cells) else 1
    url = "data:image/png;base64," + base64.b64encode(image_png).decode("ascii")
    xs = alt.Scale(domain=[0, cols], nice=False, zero=True)
    ys = alt.Scale(domain=[0, rows], nice=False, zero=True, reverse=True)
    image = alt.Chart(pd.DataFrame({"url": [url], "x": [0], "x2": [cols], "y": [0], "y2": [rows]})).mark_image(
        aspect=False, opacity=0.9,
    ).encode(x=alt.X("x:Q", scale=xs, axis=None), x2="x2:Q",
             y=alt.Y("y:Q", scale=ys, axis=None), y2="y2:Q", url="url:N")
    d = cells.copy()
    d["label"] = d["token"].map(lambda t: _short(t, 6))
    d["x"], d["x2"] = d["col"], d["col"] + 1
    d["y"], d["y2"] = d["row"], d["row"] + 1
    d["cx"], d["cy"] = d["col"] + 0.5, d["row"] + 0.5
    tint = (alt.Color(f"{colour}:N", title=colour, legend=alt.Legend(orient="bottom"))
            if colour in d.columns else alt.value("#888"))
    rect = alt.Chart(d).mark_rect(opacity=0.35, stroke="white", strokeWidth=0.5).encode(
        x=alt.X("x:Q", scale=xs, axis=None), x2="x2:Q", y=alt.Y("y:Q", scale=ys, axis=None), y2="y2:Q",
        color=tint,
        tooltip=["row:Q", "col:Q", alt.Tooltip("token:N", title="top-1"),
                 alt.Tooltip("prob:Q", format=".3f")],
    )
    fs = max(6, min(12, int(size / max(cols, 1) / 3)))
    text = alt.Chart(d).mark_text(fontSize=fs, color="black").encode(
        x=alt.X("cx:Q", scale=xs, axis=None), y=alt.Y("cy:Q", scale=ys, axis=None), text="label:N")
    return (image + rect + text).properties(width=size, height=size * rows / max(cols, 1), title=title)
