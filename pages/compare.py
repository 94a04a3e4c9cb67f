"""Compare page: the model checkup (issue 15) on 2–4 models, every curve overlaid.

Each model runs the registered `checkup` experiment (cached per model, so adding a third model
runs only that one); the page overlays the same charts the HTML report draws (one Vega-Lite spec
per chart, `checkup_report.chart_specs`), optionally on a 0–1 depth axis (each model's own
layers at l / L, nothing interpolated), shows the summary table and each verdict, and offers the
report, the tables and the one command that regenerates the comparison. Models and settings
travel in the URL (`?model=default&model=/path/to/model&remote=off&remote=local&budget=full`).
"""

from dataclasses import replace

import altair as alt
import pandas as pd
import streamlit as st

from app.blocks import initial_values, sync_url
from app.charts import export_buttons, style
from app.widgets import RUN_ON, current_spec, run_experiment, run_requested, spec_for, user_errors
from hubcore.errors import Cancelled, HubError
from hubcore.experiments.checkup import checkup
from hubcore.experiments.checkup_battery import CHECKS, RULE, VERDICT_KEYS
from hubcore.experiments.checkup_report import TITLES, chart_specs, combined, render_html, reproduce
from hubcore.experiments.registry import of

EXP = of(checkup)
MAX_MODELS = 4
PLACES = ("off", "local", "ndif")  # where a compared model runs (a self-hosted NDIF: the CLI's --remote URL)
BADGE = {"shows": ":green-badge[shows]", "weak": ":orange-badge[weak]", "none": ":gray-badge[none]"}

st.title("Compare models")
st.caption(
    "The checkup: the paper's experiments on each model with one verdict rule, every curve overlaid. "
    "The same battery as `python -m hubcore checkup`, which writes it as one HTML report."
)


def url_models() -> list[tuple[str, str]]:
    """The models a link names (`?model=A&model=B&remote=off&remote=local`), once per session."""
    if "_compare_url_read" not in st.session_state:
        st.session_state["_compare_url_read"] = True
        sources = st.query_params.get_all("model")
        remotes = st.query_params.get_all("remote")
        remotes = remotes if len(remotes) == len(sources) else ["off"] * len(sources)
        st.session_state["_compare_url_models"] = list(zip(sources, remotes))[:MAX_MODELS]
    return st.session_state["_compare_url_models"]


start = initial_values(EXP)
linked = url_models()
with st.form("compare_form"):
    st.markdown("**Models** (2–4): a spec each, and where it runs. dtype, device and downloads follow "
                "the sidebar.")
    chosen = []
    for i in range(MAX_MODELS):
        source, place = linked[i] if i < len(linked) else (current_spec().source if i == 0 else "", "off")
        c1, c2 = st.columns([3, 2])
        text = c1.text_input(f"Model {i + 1}", source, key=f"cmp_model_{i}",
                             placeholder="default · google/gemma-2-2b · /path/to/model · file.gguf")
        where = c2.selectbox(f"Runs on ({i + 1})", PLACES, index=PLACES.index(place) if place in PLACES else 0,
                             key=f"cmp_remote_{i}", format_func=RUN_ON.get)
        if text.strip():
            chosen.append((text.strip(), where))
    c1, c2 = st.columns([1, 3])
    budget = c1.selectbox("Budget", EXP.param("budget").choices, index=EXP.param("budget").choices.index(start["budget"]),
                          key="cmp_budget", help="fast: small samples (a few minutes per model on a laptop CPU); "
                                                 "full: larger samples, tighter CIs.")
    keys = [c.key for c in CHECKS]
    picked = c2.multiselect("Checks", keys, default=[k for k in (start["checks"] or keys) if k in keys],
                            format_func=TITLES.get, key="cmp_checks")
    go = st.form_submit_button("Run checkup", type="primary", icon=":material/play_arrow:")

chosen = list(dict.fromkeys(chosen))
values = {"budget": budget, "checks": None if set(picked) == set(keys) else picked}
sync_url(EXP, values)
st.query_params["model"] = [s for s, _ in chosen]
st.query_params["remote"] = [r for _, r in chosen]
if not picked:
    st.info("Pick at least one check.")
    st.stop()
if not run_requested("compare", go or bool(linked)):
    st.info("Name the models and press **Run checkup** (the fast budget takes a few minutes per model on a "
            "laptop CPU; results are kept, so adding a model runs only that one).")
    st.stop()

with user_errors():
    kwargs, _ = EXP.call_kwargs(values)
specs = [replace(spec_for(source), remote=where) for source, where in chosen]
results = []
for spec in specs:
    try:
        results.append(run_experiment(checkup, spec, **kwargs))
    except Cancelled:
        raise
    except HubError as exc:  # one model failing keeps the others
        st.error(f"{spec.label}: {exc}", icon=":material/error:")
if not results:
    st.stop()
if len(results) == 1:
    st.info("One model so far: add another to compare.", icon=":material/compare_arrows:")

tables = combined(results)
command = reproduce(specs, budget, values["checks"])

st.subheader("Summary")
summary = tables["summary"]
shown = pd.DataFrame({
    "model": summary["model"],
    "layers": summary["layers"],
    "lens check": [f"{v:.0e} {'ok' if ok else 'FAILED'}" for v, ok in zip(summary["lens_check"], summary["lens_ok"])],
    "hub layer": summary["hub_layer"].astype("Int64"),
    "hub retrieval@1": summary["hub_retrieval"],
    "English peaks at": summary["english_peak_layer"].astype("Int64"),
    "largest gap": summary["gap"],
    "gap CI": [f"[{lo:.3f}, {hi:.3f}]" if pd.notna(lo) else "" for lo, hi in zip(summary["gap_low"], summary["gap_high"])],
    "steering shift": summary["steer_shift"],
    "shift CI": [f"[{lo:+.3f}, {hi:+.3f}]" if pd.notna(lo) else "" for lo, hi in
                 zip(summary["steer_low"], summary["steer_high"])],
    "seconds": summary["seconds"],
    **{TITLES[k]: summary[f"verdict_{k}"] for k in VERDICT_KEYS if summary[f"verdict_{k}"].notna().any()},
})
st.dataframe(shown, hide_index=True, width="stretch")
st.caption("Hub: where centred Zh–En retrieval@1 peaks, when it beats chance and the first block (empty: no "
           "hub). Verdicts: " + RULE)
export_buttons(summary, None, "checkup_summary")

depth = st.toggle("Depth axis (layer / L)", key="cmp_depth",
                  help="Each model's own layers at l / L, so models of different depth line up; nothing is "
                       "interpolated. Steering stays on its coefficients.")
checks = tables["checks"]
charts = chart_specs(tables["curves"], depth=depth)
for key in VERDICT_KEYS:
    rows = checks[checks["check"] == key]
    if rows.empty:
        continue
    st.subheader(TITLES[key])
    st.caption(f"Prediction: {rows['claim'].iloc[0]}")
    for r in rows.to_dict("records"):
        st.markdown(f"{BADGE.get(r['verdict'], r['verdict'])} **{r['model']}**: {r['sentence']}")
    for n, c in enumerate(charts):
        if c.section != key:
            continue
        chart = style(alt.LayerChart.from_dict(c.spec))  # the page's look; the report's own spec
        st.altair_chart(chart, width="stretch")
        st.caption(c.caption)
        curves = tables["curves"]
        export_buttons(curves[(curves["check"] == c.check) & (curves["measure"] == c.measure)], chart,
                       f"checkup_{c.check}_{n}")

st.subheader("Export and reproduce")
c1, c2 = st.columns(2)
c1.download_button("Download the HTML report", lambda: render_html(results, command).encode("utf-8"),
                   file_name="checkup.html", mime="text/html", icon=":material/description:", key="cmp_html")
c2.download_button("Download every curve (CSV)",
                   tables["curves"].to_csv(index=False, lineterminator="\r\n").encode("utf-8"),
                   file_name="checkup_curves.csv", mime="text/csv", icon=":material/download:", key="cmp_curves",
                   on_click="ignore")
with st.expander("Reproduce this comparison", icon=":material/terminal:", expanded=True):
    st.code(command, language="bash", wrap_lines=True)
    st.caption("Writes the same report as one self-contained HTML file (it opens offline), with a .json "
               "summary and one CSV per table beside it.")
