"""Arithmetic page: numerals vs number words (similarity, lens, PCA paths) and the +1 intervention.

Four registered experiments, one tab each (`arithmetic similarity|lens|trajectories|intervene`).
Their parameters sit in the URL side by side (the later tabs' keys prefixed), and every result
comes with the command that reproduces it.
"""

import altair as alt
import streamlit as st

from app.blocks import initial_values, layer_slider, lens_choice, on_page, output_block, param_number, sync_url
from app.charts import layer_lines, stacked_layers, trajectory_plane
from app.widgets import current_spec, require_model, run_experiment, run_requested, user_errors
from hubcore.experiments.arithmetic import (METRICS, OUTCOMES, arithmetic_similarity, arithmetic_trajectories,
                                           numeral_vs_word, plus_one_intervention)
from hubcore.experiments.registry import Experiment, of

# the page opens on quick samples and on a setting where a small model solves items (few-shot,
# one-digit b); the CLI's defaults are the paper's
SIM = on_page(of(arithmetic_similarity))  # page defaults: hubcore.experiments.page_defaults
LENS = on_page(of(numeral_vs_word))
PATHS = on_page(of(arithmetic_trajectories))
INT = on_page(of(plus_one_intervention), n=30, few_shot=True, max_b=9)
LENS_KEYS, PATHS_KEYS, INT_KEYS = "lens.", "paths.", "intervene."  # URL key prefixes of tabs 2-4
TABS = ("Similarity", "Numeral vs word", "PCA trajectories", "+1 intervention")
STRENGTH_GRID = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0)

st.title("Arithmetic")
st.caption(
    "Paper §3.2 and §4. Expressions a=b+c and a=b*c (a, b ≤ 99, c one digit: the paper's 1,123). "
    "Does '5+3' look like 'five plus three' inside the model, and does the model read numbers "
    "through English words?"
)
model = require_model()
link_tab = st.session_state.setdefault("_arithmetic_link_tab", st.query_params.get("tab"))


def language(container, exp: Experiment, value: str, key: str) -> str:
    choices = list(exp.param("lang").choices)
    return container.selectbox("Word language", choices, index=choices.index(value), key=key)


def similarity_tab() -> None:
    start = initial_values(SIM)
    with st.form("ar_sim"):
        c1, c2, c3 = st.columns(3)
        n = param_number(c1, "Expressions (random sample)", SIM, "n", start["n"], "ar_n", 20)
        lang = language(c2, SIM, start["lang"], "ar_lang")
        n_boot = param_number(c3, "Bootstrap resamples", SIM, "n_boot", start["n_boot"], "ar_boot", 100)
        st.form_submit_button("Run", type="primary", icon=":material/play_arrow:")
    values = {"n": n, "lang": lang, "n_boot": n_boot, "seed": start["seed"]}
    sync_url(SIM, values)
    with user_errors():
        kwargs, _ = SIM.call_kwargs(values)
        res = run_experiment(arithmetic_similarity, current_spec(), **kwargs)
    # raw cosine is ~1 for every bucket on small models: the page opens on the centred one
    metric = st.radio("Metric", METRICS, index=list(METRICS).index("centered"), horizontal=True,
                      key="ar_metric", help="centered subtracts each side's mean state first; raw is "
                                            "the paper's cosine (both are in the CSV).")
    df = res.curves[res.curves.metric == metric]
    chart = layer_lines(df[df.bucket != "exact_minus_rest"], y="mean", series="bucket",
                        band=("ci_low", "ci_high"), y_title=f"mean cosine ({metric})",
                        title=f"'b+c' vs 'b plus c' ({res.n} expressions)",
                        compare=[("exact", "different_value"), ("same_value", "different_value")])
    output_block(res.csv_frame(), chart, "arithmetic_similarity", SIM, values, current_spec(), caption=(
        "exact = the same expression in numerals and words; same_value = different expressions "
        "with the same result (5+3 vs six plus two); different_value = the rest. If the model "
        "computed values, same_value would sit above different_value."))
    diff = df[df.bucket == "exact_minus_rest"]
    diff_chart = layer_lines(diff, y="mean", series="bucket", band=("ci_low", "ci_high"),
                             y_title="exact − rest", title="Exact translations minus all other pairs",
                             zero=("exact translations", "all other pairs"))
    output_block(res.csv_frame()[res.curves.bucket == "exact_minus_rest"], diff_chart,
                 "arithmetic_exact_minus_rest", SIM, values, current_spec(),
                 caption="Band: 95% bootstrap CI over expressions (both sides resampled together).")


def lens_tab() -> None:
    start = initial_values(LENS, prefix=LENS_KEYS)
    with st.form("ar_lens"):
        c1, c2, c3, c4 = st.columns(4)
        n = param_number(c1, "Prefixes 'a=b+'", LENS, "n", start["n"], "ar_lens_n", 10)
        lang = language(c2, LENS, start["lang"], "ar_lens_lang")
        lens = lens_choice(c3, LENS, start["lens"], "ar_lens_lens")
        raw = c4.toggle("Raw (no final norm)", bool(start["raw"]), key="ar_lens_raw")
        st.form_submit_button("Run", icon=":material/play_arrow:")
    values = {"n": n, "lang": lang, "raw": raw, "lens": lens, "n_boot": start["n_boot"], "seed": start["seed"]}
    sync_url(LENS, values, prefix=LENS_KEYS)
    with user_errors():
        kwargs, _ = LENS.call_kwargs(values)
        res = run_experiment(numeral_vs_word, current_spec(), **kwargs)
    chart = layer_lines(res.curves, y="mean_logprob", series="target", band=("ci_low", "ci_high"),
                        y_title=f"mean log p ({lens} lens)", y_floor=-30.0,
                        title=f"Answer c as a numeral vs as a word ({res.n} prefixes)",
                        compare=("numeral", "word"))
    output_block(res.csv_frame(), chart, "arithmetic_lens", LENS, values, current_spec(),
                 caption="Each item counts its better surface form (with/without a leading space); "
                         "values below −30 are drawn at −30. Surface forms that won:")
    st.dataframe(res.variants, hide_index=True)


def trajectories_tab() -> None:
    start = initial_values(PATHS, prefix=PATHS_KEYS)
    with st.form("ar_pca"):
        words = st.text_input("Anchor words (comma-separated)", ", ".join(start["anchors"]),
                              help="Any words: colours, days, animals… each needs its own token.")
        texts = st.text_area("Prefixes (one per line)", "\n".join(start["prompts"]), height=100)
        st.form_submit_button("Run", icon=":material/play_arrow:")
    values = {"prompts": [t for t in texts.splitlines() if t.strip()],
              "anchors": [w.strip() for w in words.split(",") if w.strip()]}
    sync_url(PATHS, values, prefix=PATHS_KEYS)
    with user_errors():
        kwargs, _ = PATHS.call_kwargs(values)
        res = run_experiment(arithmetic_trajectories, current_spec(), **kwargs)
    paths = res.tables["paths"]  # (`res.paths` is Result's file-path method)
    chart = trajectory_plane(res.anchors, paths, title="Last-token state per layer in the anchors' PCA plane")
    shares = ", ".join(f"{v:.0%}" for v in res.explained_variance_ratio)
    output_block(res.csv_frame(), chart, "arithmetic_trajectories", PATHS, values, current_spec(), caption=(
        "PCA is fitted on the unit-normalised unembedding rows of the anchors; each hidden state "
        "gets the lens's final norm, is unit-normalised, then projected (cosine geometry on both "
        "sides; the paper's code mixes standardised states with raw anchors). "
        f"Explained variance: {shares}."))


def intervention_tab() -> None:
    st.caption(
        "Add s × (h_l('a equals to b+1 plus') − h_l('a equals to b plus')) at the last position "
        "of the prompt 'a=b+' at layer l; greedy decoding. corrected = the model now answers c−1, "
        "as if it had read b+1 (8=5+ → 2); unchanged = it still answers c; other = anything else."
    )
    start = initial_values(INT, prefix=INT_KEYS)
    top = model.num_layers
    sweep_start = [int(x) for x in start["layers"]] == list(range(1, top + 1, 3)) and top > 1
    s_lo, s_hi = min(start["strengths"]), max(start["strengths"])
    with st.form("ar_int"):
        c1, c2, c3, c4 = st.columns(4)
        n = param_number(c1, "Items", INT, "n", start["n"], "ar_int_n", 5)
        max_b = param_number(c2, "Largest b", INT, "max_b", start["max_b"], "ar_int_maxb")
        few = c3.toggle("Few-shot context", bool(start["few_shot"]), key="ar_int_few",
                        help="Three worked examples before the prompt.")
        layer = layer_slider(model, "ar_int_layer", low=1, container=c4,
                             default=start["layers"][0] if start["layers"] else None)
        lo, hi = st.select_slider("Strengths swept (one batched generation)", options=STRENGTH_GRID,
                                  value=(min(STRENGTH_GRID, key=lambda s: abs(s - s_lo)),
                                         min(STRENGTH_GRID, key=lambda s: abs(s - s_hi))), key="ar_int_s")
        sweep = st.toggle("Also sweep layers (every third layer)", sweep_start, key="ar_int_layers")
        go = st.form_submit_button("Run intervention", icon=":material/play_arrow:")
    values = {"n": n, "max_b": max_b, "few_shot": few,
              "layers": list(range(1, top + 1, 3)) if sweep else [layer],
              "strengths": [s for s in STRENGTH_GRID if lo <= s <= hi], "lang": start["lang"],
              "seed": start["seed"]}
    sync_url(INT, values, prefix=INT_KEYS)
    if not run_requested("ar_int_requested", go or link_tab == TABS[3]):
        st.info("Choose a layer and strengths and press **Run intervention**.")
        return
    with user_errors():
        kwargs, _ = INT.call_kwargs(values)
        res = run_experiment(plus_one_intervention, current_spec(), **kwargs)
    st.metric("Unsteered accuracy", f"{res.base_accuracy:.0%}",
              help=f"{res.n_solved} of {res.n_items} items answered correctly without steering")
    for note in res.notes:
        st.warning(note)
    rates = res.rates
    if len(rates):
        chart = stacked_layers(rates.rename(columns={"layer": "layer_"}).assign(layer=lambda d: d["strength"]),
                               value="rate", category="outcome", order=list(OUTCOMES),
                               title="Outcome rates by strength", x_title="strength")
        if len(values["layers"]) > 1:
            chart = chart.facet(column=alt.Column("layer_:O", title="layer"))
        output_block(res.csv_frame("rates"), chart, "arithmetic_intervention", INT, values, current_spec(),
                     stretch=len(values["layers"]) == 1,
                     caption=f"Outcome rates over the {res.n_solved} items the model solves unsteered; "
                             "the rates are written beside --out as <out>_rates.csv.")
        if not (rates.query("outcome == 'corrected'")["rate"] > 0).any():
            st.info("No strength turned a correct answer into c−1 on this model: the paper's "
                    "effect does not show here (a null result). Larger models are where it "
                    "is expected.")
    with st.expander("Generations per item"):
        st.dataframe(res.generations.drop(columns=["prompt"]), hide_index=True, width="stretch")
    output_block(res.csv_frame(), None, "arithmetic_generations", INT, values, current_spec(),
                 caption="One greedy continuation per (item, layer, strength): the command's --out.")


tab_sim, tab_lens, tab_pca, tab_int = st.tabs(TABS, key="tab", bind="query-params")
with tab_sim:
    similarity_tab()
with tab_lens:
    lens_tab()
with tab_pca:
    trajectories_tab()
with tab_int:
    intervention_tab()
