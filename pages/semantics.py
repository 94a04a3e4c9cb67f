"""Formal-semantics page: sentences vs their logical forms (with lexical-overlap controls) and
thematic roles read through the logit lens."""

import pandas as pd
import streamlit as st

from app.charts import export_buttons, layer_lines
from app.widgets import current_spec, require_model, run_experiment, run_requested, upload_pairs, user_errors
from hubcore.data.cogs import generate
from hubcore.experiments.semantics import examples_from_pairs, lf_similarity, thematic_roles

st.title("Formal semantics")
st.caption(
    "Paper §3.4. COGS-style sentences and their Neo-Davidsonian logical forms: is 'Eleanor sold "
    "Evelyn the cake.' close to '*cake(x4); sell.agent(x1, Eleanor) AND …' inside the model, "
    "beyond sharing words? COGS itself is not in any package registry: a generator writes the data."
)
model = require_model()

with st.expander("Examples of the generated data"):
    st.dataframe(pd.DataFrame([(e.sentence, e.lf, e.construction) for e in generate(8, seed=0)],
                              columns=["sentence", "logical form", "construction"]),
                 hide_index=True, width="stretch")

tab_sim, tab_roles = st.tabs(["Sentence vs logical form", "Thematic roles"])

with tab_sim:
    uploaded = upload_pairs("sem_upload", "Or upload sentence / logical-form pairs (TSV/CSV)")
    with st.form("sem_sim"):
        c1, c2, c3 = st.columns(3)
        n = c1.number_input("Examples", 20, 1000, 60, step=20, key="sem_n")
        metric = c2.radio("Metric", ["raw", "centered"], horizontal=True, key="sem_metric")
        n_boot = c3.number_input("Bootstrap resamples", 0, 5000, 500, step=100, key="sem_boot")
        st.form_submit_button("Run", type="primary", icon=":material/play_arrow:")
    examples = tuple(examples_from_pairs(uploaded)) if uploaded else None
    with user_errors():
        rep = run_experiment(lf_similarity, current_spec(), n=int(n), examples=examples, n_boot=int(n_boot))
    df = rep.curves[rep.curves.metric == metric]
    chart = layer_lines(df, y="adjusted", series="baseline", band=("ci_low", "ci_high"),
                        y_title="cos(sentence, its LF) − baseline",
                        title="Sentence vs its logical form, minus three baselines")
    st.altair_chart(chart, width="stretch")
    st.caption(
        "nonmatching: other sentences' LFs. swapped_names: the same LF with the two names swapped "
        "(same words, wrong meaning). swapped_shuffled: swapped and conjuncts shuffled. Above zero "
        "against the swapped baselines means more than lexical overlap."
    )
    st.caption(f"{rep.n} examples; the swap baselines use the {rep.n_swap} with two distinct names"
               + (" (uploads are sampled to the number above)." if uploaded else "."))
    for note in rep.notes:
        st.info(note)
    export_buttons(rep.csv_frame(metric), chart, "semantics_similarity")

with tab_roles:
    with st.form("sem_roles"):
        c1, c2 = st.columns(2)
        n_r = c1.number_input("Examples", 20, 1000, 100, step=20, key="sem_roles_n")
        adjusted = c2.toggle("Prior-adjusted (subtract each role's mean per layer)", True, key="sem_adj")
        go = st.form_submit_button("Run thematic roles", icon=":material/play_arrow:")
    if run_requested("sem_roles", go):
        with user_errors():
            rrep = run_experiment(thematic_roles, current_spec(), n=int(n_r))
        curves = rrep.curves.copy()
        value = "adjusted" if adjusted else "mean_prob"
        curves["series"] = "read " + curves["read_role"]
        charts = [layer_lines(curves[curves.gold_role == g], y=value, series="series",
                              y_title="p(role word)" + (" − prior" if adjusted else ""),
                              title=f"Names whose gold role is {g}")
                  for g in sorted(curves.gold_role.unique())]
        for c in charts:
            st.altair_chart(c, width="stretch")
        st.caption(
            "Before each proper-name argument (names replaced by random others), the lens's "
            "probability of ' agent', ' recipient', ' theme'. If the model encodes roles in English, "
            "the gold role's line rises above the others in the middle layers."
        )
        st.caption(
            "On small models these probabilities can be tiny (below 2×10⁻⁴ on Gemma-3-270M) and "
            "follow the word before the name (' by' before agents, ' to' before recipients) rather "
            "than the role: the table shows the token each reading follows."
        )
        for note in rrep.notes:
            st.info(note)
        export_buttons(rrep.curves, charts[0] if charts else None, "semantics_roles")
        with st.expander(f"Reading positions ({len(rrep.positions)})"):
            st.dataframe(rrep.positions, hide_index=True, width="stretch")
    else:
        st.info("Press **Run thematic roles**.")
