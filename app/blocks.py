"""Blocks every page is built from: registry-driven values (URL query <-> widgets), the one layer
slider, and the "chart + caption + export + reproduce" block.

A page's widget values are the experiment's CLI-level parameter values (named like the CLI
options), so the same dict feeds the run, the URL (`/logit_lens?text=Hola&top_k=5` opens the same
run for a colleague) and the exact command line that regenerates the result.
"""

from __future__ import annotations

from typing import Any, Optional

import altair as alt
import pandas as pd
import streamlit as st

from app.charts import export_buttons
from hubcore.experiments.registry import (Experiment, default_layer, query_string, reproduce_command,
                                          values_from_query)
from hubcore.models import Handle, ModelSpec


def initial_values(exp: Experiment) -> dict[str, Any]:
    """The experiment's defaults, overridden by the page URL's query parameters (read once per
    session and page, so widgets stay free afterwards)."""
    values = exp.defaults()
    flag = f"_query_read_{exp.name}"
    if not st.session_state.get(flag):
        st.session_state[flag] = True
        values.update(values_from_query(exp, dict(st.query_params)))
        st.session_state[f"_query_values_{exp.name}"] = values
    return dict(st.session_state.get(f"_query_values_{exp.name}", values))


def sync_url(exp: Experiment, values: dict[str, Any]) -> None:
    """Put the run's parameters in the URL (only the ones that differ from the defaults)."""
    wanted = query_string(exp, values)
    if dict(st.query_params) != wanted:
        st.query_params.from_dict(wanted)


def layer_slider(model: Handle, key: str, label: str = "Layer", default: Optional[int] = None,
                 low: int = 0, help: Optional[str] = None, container: Any = None) -> int:
    """The one layer slider: 0 = embeddings .. L = last block, default the middle block."""
    top = model.num_layers
    value = default_layer(model) if default is None else int(default)
    value = min(max(value, low), top)
    where = container or st
    return int(where.slider(label, low, top, value, key=key,
                            help=help or "0 = embeddings, i = output of block i, L = last block."))


def reproduce_block(exp: Experiment, values: dict[str, Any], spec: Optional[ModelSpec],
                    note: str = "") -> None:
    """The exact CLI command that regenerates the result on this page (copy button included)."""
    command = reproduce_command(exp, values, spec, out=f"{exp.name.replace(' ', '_')}.csv")
    with st.expander("Reproduce this run", icon=":material/terminal:"):
        st.code(command, language="bash")
        st.caption("The same computation headless; the URL of this page also carries these "
                   "parameters." + (f" {note}" if note else ""))


def output_block(table: pd.DataFrame, chart: Optional[alt.TopLevelMixin], stem: str, exp: Experiment,
                 values: dict[str, Any], spec: Optional[ModelSpec], caption: str = "",
                 stretch: bool = True, note: str = "") -> None:
    """Chart, caption, CSV/PNG export and the reproduce command: the block under every result."""
    if chart is not None:
        st.altair_chart(chart, width="stretch" if stretch else "content")
    if caption:
        st.caption(caption)
    export_buttons(table, chart, stem)
    reproduce_block(exp, values, spec, note)
