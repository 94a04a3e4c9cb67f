"""Arithmetic page: numerals vs number words (similarity, lens, PCA paths) and the +1 intervention."""

import altair as alt
import streamlit as st

from app.charts import export_buttons, layer_lines, stacked_layers, trajectory_plane
from app.widgets import current_spec, require_model, run_experiment, run_requested, user_errors
from hubcore.data.arithmetic import SUPPORTED_LANGUAGES, anchor_words
from hubcore.experiments.arithmetic import (OUTCOMES, arithmetic_similarity, numeral_vs_word,
                                           plus_one_intervention)
from hubcore.projection import trajectories

st.title("Arithmetic")
st.caption(
    "Paper §3.2 and §4. Expressions a=b+c and a=b*c (a, b ≤ 99, c one digit: the paper's 1,123). "
    "Does '5+3' look like 'five plus three' inside the model, and does the model read numbers "
    "through English words?"
)
model = require_model()
tab_sim, tab_lens, tab_pca, tab_int = st.tabs(
    ["Similarity", "Numeral vs word", "PCA trajectories", "+1 intervention"])

with tab_sim:
    with st.form("ar_sim"):
        c1, c2, c3 = st.columns(3)
        n = c1.number_input("Expressions (random sample)", 20, 1123, 200, step=20, key="ar_n")
        lang = c2.selectbox("Word language", SUPPORTED_LANGUAGES, key="ar_lang")
        n_boot = c3.number_input("Bootstrap resamples", 0, 5000, 500, step=100, key="ar_boot")
        st.form_submit_button("Run", type="primary", icon=":material/play_arrow:")
    with user_errors():
        rep = run_experiment(arithmetic_similarity, current_spec(), n=int(n), lang=lang,
                             n_boot=int(n_boot))
    metric = st.radio("Metric", ["raw", "centered"], horizontal=True, key="ar_metric")
    df = rep.curves[rep.curves.metric == metric]
    buckets = df[df.bucket != "exact_minus_rest"]
    chart = layer_lines(buckets, y="mean", series="bucket", band=("ci_low", "ci_high"),
                        y_title="mean cosine", title=f"'b+c' vs 'b {'plus'} c' ({rep.n} expressions)")
    st.altair_chart(chart, width="stretch")
    diff = layer_lines(df[df.bucket == "exact_minus_rest"], y="mean", series="bucket",
                       band=("ci_low", "ci_high"), y_title="exact − rest",
                       title="Exact translations minus all other pairs")
    st.altair_chart(diff, width="stretch")
    st.caption(
        "exact = the same expression in numerals and words; same_value = different expressions "
        "with the same result (5+3 vs six plus two); different_value = the rest. If the model "
        "computed values, same_value would sit above different_value."
    )
    export_buttons(rep.curves, chart, "arithmetic_similarity")
    export_buttons(rep.curves[rep.curves.bucket == "exact_minus_rest"], diff, "arithmetic_exact_minus_rest")

with tab_lens:
    with st.form("ar_lens"):
        c1, c2, c3 = st.columns(3)
        n2 = c1.number_input("Prefixes 'a=b+'", 10, 1123, 100, step=10, key="ar_lens_n")
        lang2 = c2.selectbox("Word language", SUPPORTED_LANGUAGES, key="ar_lens_lang")
        raw2 = c3.toggle("Raw (no final norm)", False, key="ar_lens_raw")
        st.form_submit_button("Run", icon=":material/play_arrow:")
    with user_errors():
        lrep = run_experiment(numeral_vs_word, current_spec(), n=int(n2), lang=lang2, raw=raw2)
    lchart = layer_lines(lrep.curves, y="mean_logprob", series="target", band=("ci_low", "ci_high"),
                         y_title="mean log p (logit lens)", y_floor=-30.0,
                         title=f"Answer c as a numeral vs as a word ({lrep.n} prefixes)")
    st.altair_chart(lchart, width="stretch")
    st.caption("Each item counts its better surface form (with/without a leading space); "
               "values below −30 are drawn at −30. Surface forms that won:")
    st.dataframe(lrep.variants, hide_index=True)
    export_buttons(lrep.curves, lchart, "arithmetic_lens")

with tab_pca:
    with st.form("ar_pca"):
        words = st.text_input("Anchor words (comma-separated)", ", ".join(anchor_words()),
                              help="Any words: colours, days, animals… each must be one token.")
        texts = st.text_area("Prefixes (one per line)", "8=5+\n12=7+\neight equals five plus", height=100)
        st.form_submit_button("Run", icon=":material/play_arrow:")
    with user_errors():
        anchors, paths = run_experiment(
            trajectories, current_spec(),
            texts=tuple(t for t in texts.splitlines() if t.strip()),
            words=tuple(w.strip() for w in words.split(",") if w.strip()))
    pchart = trajectory_plane(anchors, paths, title="Last-token state per layer in the anchors' PCA plane")
    st.altair_chart(pchart, width="stretch")
    ev = anchors.attrs.get("explained_variance_ratio")
    st.caption(
        "PCA is fitted on the unit-normalised unembedding rows of the anchors; each hidden state "
        "gets the lens's final norm, is unit-normalised, then projected (cosine geometry on both "
        "sides; the paper's code mixes standardised states with raw anchors)."
        + (f" Explained variance: {', '.join(f'{v:.0%}' for v in ev)}." if ev is not None else "")
    )
    export_buttons(paths, pchart, "arithmetic_trajectories")

with tab_int:
    st.caption(
        "Add s × (h_l('a equals to b+1 plus') − h_l('a equals to b plus')) at the last position "
        "of the prompt 'a=b+' at layer l; greedy decoding. corrected = the model now answers c−1, "
        "as if it had read b+1 (8=5+ → 2); unchanged = it still answers c; other = anything else."
    )
    top = model.num_layers
    with st.form("ar_int"):
        c1, c2, c3, c4 = st.columns(4)
        n_i = c1.number_input("Items", 5, 200, 30, step=5, key="ar_int_n")
        max_b = c2.number_input("Largest b", 1, 98, 9, key="ar_int_maxb",
                                help="Small numbers are easier for small models.")
        few = c3.toggle("Few-shot context", True, key="ar_int_few",
                        help="Three worked examples before the prompt.")
        layer = c4.slider("Layer", 1, top, max(1, top // 2), key="ar_int_layer")
        strengths = st.select_slider("Strengths swept (one batched generation)",
                                     options=[0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0],
                                     value=(0.0, 3.0), key="ar_int_s")
        sweep_layers = st.toggle("Also sweep layers (every third layer)", False, key="ar_int_layers")
        go = st.form_submit_button("Run intervention", icon=":material/play_arrow:")
    if run_requested("ar_int_requested", go):
        grid = [s for s in [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0]
                if strengths[0] <= s <= strengths[1]]
        layers = tuple(range(1, top + 1, 3)) if sweep_layers else (int(layer),)
        with user_errors():
            irep = run_experiment(plus_one_intervention, current_spec(), n=int(n_i), layers=layers,
                                  strengths=tuple(grid), few_shot=few, max_b=int(max_b))
        st.metric("Unsteered accuracy", f"{irep.base_accuracy:.0%}",
                  help=f"{irep.n_solved} of {irep.n_items} items answered correctly without steering")
        for note in irep.notes:
            st.warning(note)
        if len(irep.rates):
            st.caption(f"Outcome rates over the {irep.n_solved} items the model solves unsteered.")
            ichart = stacked_layers(irep.rates.rename(columns={"layer": "layer_"})
                                    .assign(layer=lambda d: d["strength"]),
                                    value="rate", category="outcome", order=list(OUTCOMES),
                                    title="Outcome rates by strength", x_title="strength")
            if len(layers) > 1:
                ichart = ichart.facet(column=alt.Column("layer_:O", title="layer"))
            st.altair_chart(ichart)
            export_buttons(irep.rates, ichart, "arithmetic_intervention")
            if not (irep.rates.query("outcome == 'corrected'")["rate"] > 0).any():
                st.info("No strength turned a correct answer into c−1 on this model: the paper's "
                        "effect does not show here (a null result). Larger models are where it "
                        "is expected.")
        with st.expander("Generations per item"):
            st.dataframe(irep.generations.drop(columns=["prompt"]), hide_index=True, width="stretch")
    else:
        st.info("Choose a layer and strengths and press **Run intervention**.")
