"""Shaded layer spans under a per-layer chart: the latent-language phases (input / English /
target, Wendler et al.) drawn behind `app.charts.layer_lines`, keeping its verdicts."""

from __future__ import annotations

import altair as alt
import pandas as pd

from app.charts import with_verdicts

PHASE_COLOURS = {"input": "#bdbdbd", "English": "#9ecae1", "target": "#fdd0a2"}


def with_phases(chart: alt.TopLevelMixin, phases: pd.DataFrame, top: int) -> alt.TopLevelMixin:
    """`chart` with each (phase, first_layer, last_layer) row shaded from first - 0.5 to
    last + 0.5, clipped to layers 0..`top` (the axis stays the chart's); no rows: the chart as it
    is. The verdicts of `chart` stay attached."""
    if phases is None or not len(phases):
        return chart
    spans = phases.assign(x0=(phases["first_layer"] - 0.5).clip(lower=0),
                          x1=(phases["last_layer"] + 0.5).clip(upper=top))
    names = [p for p in PHASE_COLOURS if p in set(spans["phase"])]
    bands = alt.Chart(spans).mark_rect(opacity=0.35).encode(
        x="x0:Q", x2="x1:Q",
        color=alt.Color("phase:N", title="phase", sort=names,
                        scale=alt.Scale(domain=names, range=[PHASE_COLOURS[p] for p in names]),
                        legend=alt.Legend(orient="top")),
        tooltip=[alt.Tooltip("phase:N"), alt.Tooltip("first_layer:Q", title="from layer"),
                 alt.Tooltip("last_layer:Q", title="to layer")])
    inner = chart.copy()
    height, title = inner.height, inner.title
    inner.height, inner.title = alt.Undefined, alt.Undefined  # the outer chart carries them once
    layered = alt.layer(bands, inner).resolve_scale(color="independent").properties(height=height, title=title)
    return with_verdicts(layered, getattr(chart, "verdicts", ()))
