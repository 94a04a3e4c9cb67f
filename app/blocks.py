"""Blocks every page is built from: registry-driven values (URL query <-> widgets), the one layer
slider, and the "chart + caption + export + reproduce" block.

A page's widget values are the experiment's CLI-level parameter values (named like the CLI
options), so the same dict feeds the run, the URL (`/logit_lens?text=Hola&top_k=5` opens the same
run for a colleague) and the exact command line that regenerates the result.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional, Sequence, Union

import altair as alt
import pandas as pd
import streamlit as st

from app.charts import export_buttons, presenter, style
from hubcore.experiments.page_defaults import page_values
from hubcore.experiments.registry import (Experiment, default_layer, find, query_string, reproduce_command,
                                          values_from_query, with_values)
from hubcore.models import Handle, ModelSpec
from hubcore.verdicts import NONE, SHOWS

ADVANCED = "hub-advanced"  # container keys starting so are hidden in presenter mode
VERDICT_ICONS = {SHOWS: ":material/check_circle:", NONE: ":material/do_not_disturb_on:"}


def on_page(exp: Experiment, tag: str = "", **defaults: Any) -> Experiment:
    """`exp` with this page's own defaults where they differ from the CLI's (a page opens on an
    informative setting, e.g. list commas in code): its widgets start there and its URL names a
    value whenever it differs from them. Reproduce commands always use the CLI's defaults.

    Without `defaults`, the page's defaults come from `hubcore.experiments.page_defaults` (the
    demo bundle computes exactly those); `tag` picks one of several runs of `exp` on a page."""
    defaults = defaults or page_values(exp.name, tag)
    return with_values(exp, params=tuple(replace(p, default=defaults[p.name]) if p.name in defaults else p
                                         for p in exp.params))


def initial_values(exp: Experiment, prefix: str = "") -> dict[str, Any]:
    """The experiment's defaults, overridden by the page URL's query parameters (read once per
    session and page, so widgets stay free afterwards). `prefix`: see `sync_url`."""
    values = exp.defaults()
    key = f"{prefix}{exp.name}"
    if not st.session_state.get(f"_query_read_{key}"):
        st.session_state[f"_query_read_{key}"] = True
        query = {k[len(prefix):]: v for k, v in st.query_params.items() if k.startswith(prefix)}
        values.update(values_from_query(exp, query))
        st.session_state[f"_query_values_{key}"] = values
    return dict(st.session_state.get(f"_query_values_{key}", values))


def sync_url(exp: Experiment, values: dict[str, Any], prefix: str = "") -> None:
    """Put the run's parameters in the URL (only the ones that differ from the defaults).

    Each call replaces only its experiment's own keys, so a page with several experiments keeps
    them all; `prefix` names the keys of a page's further experiments apart (`strip.layer`)."""
    current = dict(st.query_params)
    wanted = {prefix + k: v for k, v in query_string(exp, values).items()}
    # key by key: other keys (another experiment's, a widget bound to the URL such as the open
    # tab) are never written, which Streamlit forbids for bound ones
    for key in {prefix + p.name for p in exp.params} - wanted.keys():
        if key in current:
            del st.query_params[key]
    for key, value in wanted.items():
        if current.get(key) != value:
            st.query_params[key] = value


def param_number(container: Any, label: str, exp: Experiment, name: str, value: Any, key: str,
                 step: int = 1) -> int:
    """An integer input bounded by the parameter's declared range (`Param.low`/`high`)."""
    p = exp.param(name)
    return int(container.number_input(label, int(p.low), int(p.high), int(value), step=step, key=key))


def lens_choice(container: Any, exp: Experiment, value: Any, key: str) -> str:
    """The lens a lens-based experiment reads layers through (logit | tuned | patchscope), from its
    declared parameter, so every page offers the same choices as the CLI's `--lens`."""
    p = exp.param("lens")
    choices = list(p.choices)
    index = choices.index(value) if value in choices else 0
    return str(container.selectbox("Lens", choices, index=index, key=key, help=p.help))


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
    exp = find(exp.name)  # the CLI's defaults, even for an `on_page` variant
    command = reproduce_command(exp, values, spec, out=f"{exp.name.replace(' ', '_')}.csv")
    with st.expander("Reproduce this run", icon=":material/terminal:"):
        st.code(command, language="bash", wrap_lines=True)  # a long text must not widen the page
        st.caption("The same computation headless; the URL of this page also carries these "
                   "parameters." + (f" {note}" if note else ""))


def verdict_block(chart: Any) -> None:
    """The verdict line(s) a chart helper computed from the CIs (`hubcore.verdicts`), if any."""
    for v in getattr(chart, "verdicts", ()):
        st.markdown(f"{VERDICT_ICONS.get(v.status, ':material/help:')} **Verdict.** {v.sentence}")


Charts = Union[alt.TopLevelMixin, Sequence[alt.TopLevelMixin], None]


def output_block(table: pd.DataFrame, chart: Charts, stem: str, exp: Experiment,
                 values: dict[str, Any], spec: Optional[ModelSpec], caption: str = "",
                 stretch: bool = True, note: str = "") -> None:
    """Chart(s) with their verdicts, caption, CSV/PNG export and the reproduce command: the block
    under every result. Several charts share one export (their PNG stacks them)."""
    charts = list(chart) if isinstance(chart, (list, tuple)) else [] if chart is None else [chart]
    shown = [style(c, stretch) for c in charts]
    for c, styled in zip(charts, shown):
        st.altair_chart(styled, width="stretch" if stretch else "content")
        verdict_block(c)
    if caption:
        st.caption(caption)
    export = shown[0] if len(shown) == 1 else style(alt.vconcat(*charts), stretch) if charts else None
    with st.container(key=f"{ADVANCED}-out-{stem}"):  # hidden in presenter mode
        export_buttons(table, export, stem)
        reproduce_block(exp, values, spec, note)


def presenter_css() -> None:
    """Presenter mode: larger text everywhere and the advanced controls hidden (still set)."""
    if presenter():
        st.markdown(
            f"""<style>
            html {{ font-size: 21px; }}
            [class*="st-key-{ADVANCED}"] {{ display: none !important; }}
            [data-testid="stMainBlockContainer"] {{ max-width: 100%; padding-left: 2rem; padding-right: 2rem; }}
            </style>""",
            unsafe_allow_html=True,
        )


def run_kwargs(exp: Experiment, values: dict[str, Any]) -> dict[str, Any]:
    """`exp.call_kwargs(values)` for `run_experiment`: lists become tuples (the result cache keys
    on the arguments, so they must be hashable); the notes are dropped."""
    kwargs, _ = exp.call_kwargs(values)
    return {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
