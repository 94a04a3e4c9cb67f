"""The chart helpers every page draws with (Altair), and CSV/PNG export buttons.

One per-layer helper (`layer_lines`) gives every per-layer plot the same reading aids: titles that
wrap instead of clipping, a minimum plot height (the page's width is fitted, the height never
squeezed by a legend or a long axis title), legend swatches in the line's own colour (not the CI
band's pale tint), a dashed zero line on difference plots, human labels for snake_case names, and
under the plot a one-line verdict computed from the CIs by `hubcore.verdicts` (never written by
hand on a page). Presenter mode (a sidebar toggle) enlarges fonts and plots for a projector.
"""

from __future__ import annotations

import glob
import re
import textwrap
from functools import lru_cache
from typing import Any, Callable, Optional, Sequence, Union

import altair as alt
import pandas as pd
import streamlit as st

from hubcore import verdicts

CELL_WIDTH = 58
CELL_HEIGHT = 22
MIN_HEIGHT = 300  # px of plot area, whatever the legend and titles take
PRESENTER_HEIGHT = 440
TITLE_CHARS = 70  # a title wraps onto further lines rather than being cut with "…"
AXIS_TITLE_CHARS = 36  # a y-axis title longer than the plot squeezed it to a sliver: wrap it
PAGE_WIDTH = 960  # px of the main column at 1400 px (wide layout, sidebar open): label budgets
STRIP_COLUMNS = 12  # tokens per line of the code lens strip (12 x 74 px fits the page)
PRESENTER_KEY = "presenter"
PNG_WIDTH = 800  # px of an exported per-layer chart


def presenter() -> bool:
    """Presenter mode (sidebar toggle): bigger fonts and plots, advanced controls hidden."""
    return bool(st.session_state.get(PRESENTER_KEY))


def plot_height(base: int = MIN_HEIGHT) -> int:
    return max(base, PRESENTER_HEIGHT) if presenter() else max(base, MIN_HEIGHT)


def human(name: Any) -> str:
    """'same_value' -> 'same value', 'exact_minus_rest' -> 'exact − rest', 'and - or' -> 'and − or'."""
    text = str(name)
    text = re.sub(r"_minus_|\s-\s", " − ", text)
    return text.replace("_", " ")


def wrap(text: str, width: int) -> Any:
    """A title as one string, or as lines (Vega draws a list as a multi-line title)."""
    if not text or len(text) <= width:
        return text
    return textwrap.wrap(text, width, break_long_words=False)


def titled(title: str) -> alt.TitleParams:
    """A chart title that wraps and is never cut (`limit` 0 = unlimited)."""
    return alt.TitleParams(wrap(title, TITLE_CHARS), anchor="start", limit=0)


def _short(token: str, width: int = 8) -> str:
    shown = token.replace("\n", "⏎").replace(" ", "␣")
    if width <= 0:
        return ""
    return shown if len(shown) <= width else shown[: width - 1] + "…"


def with_verdicts(chart: alt.TopLevelMixin, found: Sequence[verdicts.Verdict]) -> alt.TopLevelMixin:
    """Attach the verdicts a chart's CIs give (`output_block` shows them under it). Kept beside
    the spec, never in it, so the chart stays an ordinary Altair chart; copies drop them."""
    object.__setattr__(chart, "verdicts", tuple(found))
    return chart


def label_chars(columns: int, width: int = PAGE_WIDTH, px_per_char: float = 7.0) -> int:
    """How many characters of a token fit in one of `columns` cells across the page (0-8)."""
    return max(0, min(8, int(width / max(columns, 1) / px_per_char) - 1))


def lens_heatmap(cells: pd.DataFrame, title: str = "") -> alt.Chart:
    """Layer x position grid: top-1 lens token written in each cell, colour = its probability.

    The grid takes the page's width (never more): with many positions the cells narrow and the
    token labels shorten, down to none (hover a cell for everything); the page windows the
    positions so a long text stays readable."""
    df = cells.copy()
    n_cols = max(df["position"].nunique(), 1)
    chars = label_chars(n_cols)
    df["column"] = df["position"].astype(str).str.zfill(4) + " " + df["input_token"].map(lambda t: _short(t, max(chars, 3)))
    df["label"] = df["token"].map(lambda t: _short(t, chars))
    x = alt.X("column:O", title="position · input token", sort="ascending",
              axis=alt.Axis(labelAngle=-45, labelExpr="substring(datum.value, 5)", labelOverlap=True))
    y = alt.Y("layer:O", title="layer (0 = embeddings)", sort="descending")
    base = alt.Chart(df).encode(x=x, y=y)
    rect = base.mark_rect().encode(
        color=alt.Color("prob:Q", title="p(top-1)", scale=alt.Scale(scheme="viridis", domain=[0, 1]),
                        legend=alt.Legend(orient="top", gradientLength=240)),
        tooltip=[
            alt.Tooltip("layer:O"),
            alt.Tooltip("position:O"),
            alt.Tooltip("input_token:N", title="input token"),
            alt.Tooltip("token:N", title="top-1"),
            alt.Tooltip("prob:Q", format=".3f"),
            alt.Tooltip("top_k:N", title="top-k"),
        ],
    )
    layers = [rect]
    if chars >= 2:
        layers.append(base.mark_text(fontSize=10 if chars >= 4 else 9).encode(
            text="label:N",
            color=alt.condition("datum.prob > 0.55", alt.value("black"), alt.value("white")),
        ))
    return alt.layer(*layers).properties(height=alt.Step(CELL_HEIGHT), title=titled(title))


def _legend(title: str) -> alt.Legend:
    """A legend whose swatch is a thick line in the series' own colour."""
    return alt.Legend(title=title, orient="bottom", labelLimit=400, columns=2, symbolType="stroke",
                      symbolStrokeWidth=4, symbolOpacity=1, symbolSize=400)


Pairs = Optional[Union[tuple[str, str], list[tuple[str, str]]]]  # series to compare: one pair or several


def layer_lines(df: pd.DataFrame, y: str, series: str, y_title: str, title: str = "",
                band: tuple[str, str] | None = None, y_floor: float | None = None,
                x: str = "layer", x_title: str = "layer (0 = embeddings)",
                zero: tuple[str, str] | None = None, compare: Pairs = None,
                paired: tuple[pd.DataFrame, str, str] | None = None,
                baseline: tuple[str, str] | None = None) -> alt.LayerChart:
    """A per-layer line chart, one line per `series`, with an optional CI band (low, high),
    carrying the verdict(s) its CIs give (`chart.verdicts`, shown under it by `output_block`).

    What the verdict compares (needs `band`): `zero=(a, b)`: each line is a difference a − b
    (a dashed zero line is drawn; "{series}" in a or b names the line); `compare=(s1, s2)`: two
    of the lines, by CI overlap; `paired=(table, a, b)`: a paired-difference table (layer,
    ci_low, ci_high) of what the lines show; `baseline=(a, b)`: each line against its own value
    at the first x (a sweep's strength 0). `y_floor` clamps very low values (early-layer log-probs
    of -100) so the range that matters stays readable; the caller says so in its caption.
    """
    d = df.copy()
    d["_series"] = d[series].map(human)
    scale = alt.Scale(zero=False)
    if y_floor is not None and len(d) and d[y].min() < y_floor:
        scale = alt.Scale(domainMin=y_floor, clamp=True, zero=False)
    x_enc = alt.X(f"{x}:Q", title=human(x_title), axis=alt.Axis(tickMinStep=1) if x == "layer" else alt.Axis())
    base = alt.Chart(d).encode(x=x_enc)
    colour = alt.Color("_series:N", title=human(series), sort=list(dict.fromkeys(d["_series"])))
    line = base.mark_line(point=True, strokeWidth=2.5).encode(
        y=alt.Y(f"{y}:Q", title=wrap(y_title, AXIS_TITLE_CHARS), scale=scale),
        color=colour.legend(_legend(human(series))),
        tooltip=[alt.Tooltip(f"{x}:Q", title=human(x)), alt.Tooltip("_series:N", title=human(series)),
                 alt.Tooltip(f"{y}:Q", format=".3f", title=human(y))]
                + ([alt.Tooltip(f"{band[0]}:Q", format=".3f", title="CI low"),
                    alt.Tooltip(f"{band[1]}:Q", format=".3f", title="CI high")] if band else []),
    )
    layers: list[alt.Chart] = []
    if band is not None:  # drawn first (under the lines), no legend of its own: swatches are the lines'
        layers.append(base.mark_area(opacity=0.18).encode(y=f"{band[0]}:Q", y2=f"{band[1]}:Q",
                                                           color=colour.legend(_legend(human(series)))))
    if zero is not None:
        layers.append(alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(
            color="#444", strokeDash=[5, 4], strokeWidth=1.5).encode(y="zero:Q"))
    layers.append(line)
    chart = alt.layer(*layers).properties(height=plot_height(), title=titled(title))
    unit = "layer" if x == "layer" else human(x)
    return with_verdicts(chart, judge(d, x, series, band, zero, compare, paired, baseline, unit))


def judge(df: pd.DataFrame, x: str, series: str, band: tuple[str, str] | None,
          zero: tuple[str, str] | None, compare: Pairs,
          paired: tuple[pd.DataFrame, str, str] | None, baseline: tuple[str, str] | None,
          unit: str = "layer") -> list[verdicts.Verdict]:
    """What `hubcore.verdicts` says about what the chart compares (nothing without CIs).
    `compare` may list several pairs of series."""
    if band is None or not len(df):
        return []
    low, high = band
    names = list(dict.fromkeys(df[series]))
    out: list[verdicts.Verdict] = []
    if paired is not None:
        table, a, b = paired
        out.append(verdicts.difference_frame(table, x if x in table.columns else "layer", a, b, unit=unit))
    for s1, s2 in ([compare] if isinstance(compare, tuple) else compare or []):
        if s1 in names and s2 in names:
            out.append(verdicts.from_frame(df, x, series, s1, s2, low, high, names=(human(s1), human(s2)),
                                           unit=unit))
    for name in names if (zero is not None or baseline is not None) else []:
        part = df[df[series] == name].sort_values(x)
        label = human(name)
        if zero is not None:
            a, b = (s.replace("{series}", label) for s in zero)
            if len(names) > 1 and "{series}" not in zero[0] + zero[1]:
                a = f"{a} ({label})"
            out.append(verdicts.difference_frame(part, x, a, b, low, high, unit=unit))
        else:
            a, b = (s.replace("{series}", label) for s in baseline)
            if len(names) > 1 and "{series}" not in baseline[0] + baseline[1]:
                a = f"{a} ({label})"
            xs = list(part[x])
            first = part.iloc[0]
            out.append(verdicts.between(xs[1:], part[low].iloc[1:], part[high].iloc[1:],
                                        [first[low]] * (len(xs) - 1), [first[high]] * (len(xs) - 1),
                                        a, b, unit=unit))
    return out


def style(chart: alt.TopLevelMixin, stretch: bool = True) -> alt.TopLevelMixin:
    """The page-wide look applied once per shown chart: the width fitted to the page and the
    height kept (Streamlit's default "fit" squeezes the plot to make room for legends and long
    titles), readable fonts (larger in presenter mode), titles never cut."""
    big = presenter()
    size = {"label": 15 if big else 11, "title": 17 if big else 12, "chart": 22 if big else 15}
    spec_type = "fit-x" if stretch and not _is_compound(chart) else "pad"
    return chart.properties(autosize=alt.AutoSizeParams(type=spec_type, contains="padding")).configure_title(
        fontSize=size["chart"], anchor="start", limit=0, subtitleFontSize=size["title"],
    ).configure_axis(
        labelFontSize=size["label"], titleFontSize=size["title"], titleLimit=0,
    ).configure_legend(
        labelFontSize=size["label"], titleFontSize=size["title"], labelLimit=0,
    ).configure_text(fontSize=size["label"] - 1)


def _is_compound(chart: alt.TopLevelMixin) -> bool:
    """Facets and side-by-side charts size themselves (Streamlit pads them too)."""
    return isinstance(chart, (alt.FacetChart, alt.HConcatChart, alt.ConcatChart))


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
        shown = chart
        if isinstance(chart, (alt.Chart, alt.LayerChart)) and chart.to_dict().get("width") is None:
            shown = chart.properties(width=PNG_WIDTH)  # on the page it takes the page's width
        spec = shown.to_json()
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
        color=alt.Color(f"{category}:N", title=human(category), sort=order),
        order=alt.Order(f"{category}:N"),
        tooltip=[alt.Tooltip("layer:O"), alt.Tooltip(f"{category}:N"),
                 alt.Tooltip(f"{value}:Q", format=".3f")],
    ).properties(height=plot_height(), title=titled(title))


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
    return (line + dots + points + labels).properties(height=plot_height(460), title=titled(title))


def token_strip(df: pd.DataFrame, title: str = "") -> alt.Chart:
    """Figure-7 style strip: each input token (bottom row) under its top lens token (top row),
    the lens token coloured by its probability; wraps into lines of `STRIP_COLUMNS` tokens (the
    strip stays within the page's width)."""
    d = df.copy()
    d["line"] = d["position"] // STRIP_COLUMNS
    d["col"] = d["position"] % STRIP_COLUMNS
    d["input"] = d["input_token"].map(lambda t: _short(t, 10))
    d["lens"] = d["top_token"].map(lambda t: _short(t, 10))
    base = alt.Chart(d).encode(x=alt.X("col:O", axis=None), y=alt.Y("line:O", axis=None))
    cells = base.mark_rect(height=34, width=70).encode(
        color=alt.Color("prob:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), title="p(lens top-1)"),
        tooltip=["position:Q", "input_token:N", "top_token:N", alt.Tooltip("prob:Q", format=".3f")],
    )
    lens = base.mark_text(dy=-8, fontSize=11, fontWeight="bold").encode(text="lens:N")
    inp = base.mark_text(dy=9, fontSize=10, color="#555").encode(text="input:N")
    return (cells + lens + inp).properties(width=alt.Step(74), height=alt.Step(40), title=titled(title))


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
    return (image + rect + text).properties(width=size, height=size * rows / max(cols, 1), title=titled(title))
