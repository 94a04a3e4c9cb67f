"""Code page: English anchors inside Python (list literals, semantic roles), the range(0, end)
intervention, and a live token-by-token lens strip over a snippet."""

import streamlit as st

from app.charts import export_buttons, layer_lines, token_strip
from app.widgets import current_spec, require_model, run_experiment, run_requested, user_errors
from hubcore.text.python_source import load_user_code
from hubcore.experiments.code import (RESIDUAL_STRENGTHS, lens_strip, list_literals, range_steer,
                                      semantic_roles)
from hubcore.errors import HubError

st.title("Code")
st.caption(
    "Paper §3.3. Python is read through English: at a comma inside a list literal, does the "
    "model's middle layer think ' and'? At an argument, does it think of the parameter's name? "
    "HumanEval programs (164) are parsed, never executed."
)
model = require_model()

upload = st.file_uploader("Use your own Python file instead of HumanEval", type=["py", "txt"], key="code_upload")
programs = None
if upload is not None:
    try:
        programs = tuple(load_user_code(upload.getvalue(), upload.name))
    except HubError as exc:
        st.error(str(exc), icon=":material/error:")


def show_skipped(skipped: dict) -> None:
    """Visible counts of snippets/positions that could not be used, by reason."""
    used = {k: v for k, v in dict(skipped).items() if v}
    if used:
        st.caption("Skipped: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in used.items()))


tab_lists, tab_roles, tab_range, tab_strip = st.tabs(
    ["List literals", "Semantic roles", "range(0, end) steering", "Live lens strip"])

with tab_lists:
    with st.form("code_lists"):
        c1, c2, c3, c4 = st.columns(4)
        n_prog = c1.number_input("Programs", 5, 164, 20, step=5, key="code_n")
        sites = c2.selectbox("Commas in", ["all", "code", "strings"], key="code_sites",
                             help="Most HumanEval lists sit in docstring examples, not in code.")
        extra = c3.text_input("Extra words", "etcétera", key="code_extra",
                              help="Also track these words (Gemma reads ' etcétera' at layer 12).")
        raw = c4.toggle("Raw (no final norm)", False, key="code_raw")
        st.form_submit_button("Run", type="primary", icon=":material/play_arrow:")
    with user_errors():
        rep = run_experiment(list_literals, current_spec(), programs=programs, raw=raw,
                             max_programs=int(n_prog), sites=sites,
                             extra_words=tuple(w.strip() for w in extra.split(",") if w.strip()))
    chart = layer_lines(rep.curves, y="mean_logprob", series="target", band=("ci_low", "ci_high"),
                        y_title="mean log p (logit lens)", y_floor=-30.0,
                        title="At list-literal commas: ' and' / ' or' / ' not' vs the true next token")
    st.altair_chart(chart, width="stretch")
    st.caption(
        "The paper (Llama-2) finds ' and' above ' or' and ' not' in the middle layers: the comma is "
        "read as a conjunction. Compare the and/or/not lines; values below −30 are drawn at −30."
    )
    dchart = layer_lines(rep.difference.assign(series="and − or"), y="mean_diff",
                         series="series", band=("ci_low", "ci_high"), y_title="log p(and) − log p(or)",
                         title="Paired difference (above 0 = ' and' wins)")
    st.altair_chart(dchart, width="stretch")
    for note in rep.notes:
        st.info(note)
    show_skipped(rep.skipped)
    export_buttons(rep.curves, chart, "code_list_literals")
    export_buttons(rep.difference, dchart, "code_and_minus_or")

with tab_roles:
    go_roles = st.button("Run semantic roles", icon=":material/play_arrow:", key="code_roles_go")
    if run_requested("code_roles", go_roles):
        with user_errors():
            rrep = run_experiment(semantic_roles, current_spec(), programs=programs,
                                  max_programs=int(n_prog))
        rchart = layer_lines(rrep.curves, y="mean_logprob", series="target", band=("ci_low", "ci_high"),
                             y_title="mean log p (logit lens)", y_floor=-30.0,
                             title="Before an argument: the parameter's name vs the argument itself")
        st.altair_chart(rchart, width="stretch")
        st.caption("At the '(' or ',' before each argument: log p of the parameter name (e.g. "
                   "' stop' for range) vs the first token of the argument actually written.")
        show_skipped(rrep.skipped)
        export_buttons(rrep.curves, rchart, "code_semantic_roles")
    else:
        st.info("Press **Run semantic roles** (the lens runs at every argument).")

with tab_range:
    st.caption("At the '(' of single-argument range( calls, add s × (W_U['start'] − W_U['end']) at "
               "layer l; success = the model now writes range(0, end).")
    scale = st.radio("Strength units", ["raw", "residual"], horizontal=True, key="code_range_scale",
                     help="raw: s multiplies W_U[start] − W_U[end] as in the paper. residual: s is a "
                          "fraction of the hidden state's norm at '(' (on Gemma-3-270M the raw vector "
                          "is ~1 while the state is ~5,000, so raw strengths 0–8 change nothing).")
    grid = list(RESIDUAL_STRENGTHS) + [0.25] if scale == "residual" else [0.0, 1.0, 2.0, 4.0, 8.0, 16.0]
    with st.form("code_range"):
        c1, c2 = st.columns(2)
        layer = c1.slider("Layer", 1, model.num_layers, max(1, model.num_layers // 2), key="code_range_layer")
        strengths = c2.multiselect("Strengths (one batched generation)", grid, default=grid[:5],
                                   key=f"code_range_s_{scale}")
        go_range = st.form_submit_button("Run steering", icon=":material/play_arrow:")
    if run_requested("code_range", go_range):
        with user_errors():
            srep = run_experiment(range_steer, current_spec(), programs=programs, layer=int(layer),
                                  strengths=tuple(sorted(set(strengths) | {0.0})), scale=scale)
        st.caption(f"Vector: W_U[{srep.tokens[0]!r}] − W_U[{srep.tokens[1]!r}] (norm "
                   f"{srep.vector_norm:.2f}); unsteered, {srep.base_matches_argument:.0%} of "
                   "continuations begin the real argument.")
        rates = srep.rates.assign(series=lambda d: "layer " + d["layer"].astype(str))
        schart = layer_lines(rates, y="success_rate", series="series", band=("ci_low", "ci_high"),
                             y_title="share written as range(0, …)", x="strength",
                             x_title="steering strength (0 = none)",
                             title=f"range(0, end) success by strength ({srep.n_items} calls)")
        st.altair_chart(schart, width="stretch")
        for note in srep.notes:
            st.info(note)
        export_buttons(srep.rates, schart, "code_range_steer")
        with st.expander("Generations per item"):
            st.dataframe(srep.generations, hide_index=True, width="stretch")
    else:
        st.info("Choose a layer and strengths and press **Run steering**.")

with tab_strip:
    snippet = st.text_area("Code", "numbers = [1, 2, 3]\nfor i in range(len(numbers)):\n    print(numbers[i])",
                           height=120, key="code_strip_text")
    strip_layer = st.slider("Layer to read", 0, model.num_layers, min(model.num_layers, 13), key="code_strip_layer")
    with user_errors():
        strip = run_experiment(lens_strip, current_spec(), code=snippet, layer=int(strip_layer))
    st.altair_chart(token_strip(strip, title=f"Top lens token at layer {strip_layer} (bold) above each code token"))
    export_buttons(strip, None, "code_lens_strip")
