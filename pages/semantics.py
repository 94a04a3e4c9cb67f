"""Formal-semantics page: sentences vs their logical forms (with lexical-overlap controls) and
thematic roles read through the logit lens.

Two registered experiments, one tab each (`semantics similarity|roles`); their parameters sit in
the URL side by side (the roles tab's keys prefixed), and every result comes with the command
that reproduces it (an uploaded file named by its file name: `--pairs FILE`).
"""

import pandas as pd
import streamlit as st

from app.blocks import initial_values, lens_choice, on_page, output_block, param_number, sync_url
from app.charts import layer_lines
from app.widgets import current_spec, require_model, run_experiment, run_requested, user_errors
from hubcore.data.cogs import generate
from hubcore.experiments.registry import of
from hubcore.experiments.semantics import UPLOAD, lf_similarity, metric_rows, thematic_roles

# the page opens on quick samples and on the centred cosine (raw cosine is ~1 for every pair on
# small models, so its differences say little); the CLI's defaults are the paper's
SIM = on_page(of(lf_similarity))  # page defaults: hubcore.experiments.page_defaults
ROLES = on_page(of(thematic_roles))
ROLES_KEYS = "roles."  # URL key prefix of the second tab
TABS = ("Sentence vs logical form", "Thematic roles")

st.title("Formal semantics")
st.caption(
    "Paper §3.4. COGS-style sentences and their Neo-Davidsonian logical forms: is 'Eleanor sold "
    "Evelyn the cake.' close to '*cake(x4); sell.agent(x1, Eleanor) AND …' inside the model, "
    "beyond sharing words? COGS itself is not in any package registry: a generator writes the data."
)
model = require_model()
link_tab = st.session_state.setdefault("_semantics_link_tab", st.query_params.get("tab"))

with st.expander("Examples of the generated data"):
    st.dataframe(pd.DataFrame([(e.sentence, e.lf, e.construction) for e in generate(8, seed=0)],
                              columns=["sentence", "logical form", "construction"]),
                 hide_index=True, width="stretch")


def similarity_tab() -> None:
    start = initial_values(SIM)
    upload = st.file_uploader("Or upload sentence / logical-form pairs (TSV/CSV)", type=["tsv", "csv", "txt"],
                              key="sem_upload")
    if upload is None and start.get("pairs"):
        st.info(f"This link's run used the file '{start['pairs']}': upload it again to rerun it; "
                "below are the generated data.")
    with st.form("sem_sim"):
        c1, c2, c3 = st.columns(3)
        n = param_number(c1, "Examples", SIM, "n", start["n"], "sem_n", 20)
        metrics = list(SIM.param("metric").choices)
        metric = c2.radio("Metric", metrics, index=metrics.index(start["metric"]), horizontal=True,
                          key="sem_metric")
        n_boot = param_number(c3, "Bootstrap resamples", SIM, "n_boot", start["n_boot"], "sem_boot", 100)
        st.form_submit_button("Run", type="primary", icon=":material/play_arrow:")
    values = {"n": n, "seed": start["seed"], "metric": metric, "n_boot": n_boot,
              "pairs": upload.name if upload is not None else None}
    sync_url(SIM, values)
    with user_errors():
        kwargs, notes = SIM.call_kwargs({**values, UPLOAD: upload.getvalue() if upload is not None else None})
        kwargs.pop("metric")  # both metrics are computed: switching is display-only (no rerun)
        res = run_experiment(lf_similarity, current_spec(), **kwargs)
    table = metric_rows(res.curves, metric)  # what `--metric` writes
    chart = layer_lines(table, y="adjusted", series="baseline", band=("ci_low", "ci_high"),
                        y_title=f"cos(sentence, its LF) − baseline ({metric})",
                        title="Sentence vs its logical form, minus three baselines",
                        zero=("the sentence's own LF", "the {series} baseline"))
    output_block(table, chart, "semantics_similarity", SIM, values, current_spec(), caption=(
        "nonmatching: other sentences' LFs. swapped_names: the same LF with the two names swapped "
        "(same words, wrong meaning). swapped_shuffled: swapped and conjuncts shuffled. Above zero "
        "against the swapped baselines means more than lexical overlap. "
        f"{res.n} examples; the swap baselines use the {res.n_swap} with two distinct names"
        + (" (uploads are sampled to the number above)." if upload is not None else ".")))
    for note in notes + res.notes:
        st.info(note)


def roles_tab() -> None:
    start = initial_values(ROLES, prefix=ROLES_KEYS)
    with st.form("sem_roles"):
        c1, c2, c3, c4 = st.columns(4)
        n = param_number(c1, "Examples", ROLES, "n", start["n"], "sem_roles_n", 20)
        adjusted = c2.toggle("Prior-adjusted (subtract each role's mean per layer)", True, key="sem_adj")
        lens = lens_choice(c3, ROLES, start["lens"], "sem_roles_lens")
        raw = c4.toggle("Raw (no final norm)", bool(start["raw"]), key="sem_roles_raw")
        go = st.form_submit_button("Run thematic roles", icon=":material/play_arrow:")
    values = {"n": n, "raw": raw, "lens": lens, "n_boot": start["n_boot"], "seed": start["seed"]}
    sync_url(ROLES, values, prefix=ROLES_KEYS)
    if not run_requested("sem_roles", go or link_tab == TABS[1]):
        st.info("Press **Run thematic roles**.")
        return
    with user_errors():
        kwargs, _ = ROLES.call_kwargs(values)
        res = run_experiment(thematic_roles, current_spec(), **kwargs)
    value = "adjusted" if adjusted else "mean_prob"
    shift = res.curves["mean_prob"] - res.curves[value]  # the prior, when adjusted: the CI moves with it
    curves = res.curves.assign(series="read " + res.curves["read_role"], low=res.curves["ci_low"] - shift,
                               high=res.curves["ci_high"] - shift)
    roles = sorted(curves.gold_role.unique())
    charts = [layer_lines(curves[curves.gold_role == g], y=value, series="series", band=("low", "high"),
                          y_title="p(role word)" + (" − prior" if adjusted else ""),
                          title=f"Names whose gold role is {g}",
                          compare=[(f"read {g}", f"read {o}") for o in roles if o != g])
              for g in roles]
    output_block(res.csv_frame(), charts or None, "semantics_roles", ROLES,
                 values, current_spec(), caption=(
        "Before each proper-name argument (names replaced by random others), the lens's "
        "probability of ' agent', ' recipient', ' theme'. If the model encodes roles in English, "
        "the gold role's line rises above the others in the middle layers. On small models these "
        "probabilities can be tiny (below 2×10⁻⁴ on Gemma-3-270M) and follow the word before the "
        "name (' by' before agents, ' to' before recipients) rather than the role: the table below "
        "shows the token each reading follows."))
    for note in res.notes:
        st.info(note)
    with st.expander(f"Reading positions ({len(res.positions)})"):
        st.dataframe(res.positions, hide_index=True, width="stretch")


tab_sim, tab_roles = st.tabs(TABS, key="tab", bind="query-params")
with tab_sim:
    similarity_tab()
with tab_roles:
    roles_tab()
