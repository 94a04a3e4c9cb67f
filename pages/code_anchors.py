"""Code page: English anchors inside Python (list literals, semantic roles), the range(0, end)
intervention, and a live token-by-token lens strip over a snippet (`code lists|roles|range-steer|
strip`)."""

import streamlit as st

from app.blocks import initial_values, layer_slider, lens_choice, on_page, output_block, param_number, sync_url
from app.charts import layer_lines, token_strip
from app.widgets import current_spec, require_model, run_experiment, run_requested, user_errors
from hubcore.errors import HubError
from hubcore.experiments.code import (HUMANEVAL, RESIDUAL_STRENGTHS, lens_strip, list_literals, load_user_code, range_steer,
                                      semantic_roles)
from hubcore.experiments.page_defaults import SNIPPET
from hubcore.experiments.registry import Experiment, of

LISTS, ROLES, RANGE, STRIP = of(list_literals), of(semantic_roles), of(range_steer), of(lens_strip)
# Where the page opens (hubcore.experiments.page_defaults; the CLI keeps its own defaults): list
# commas IN CODE (most of HumanEval's list commas sit in docstring examples, so "all" would mostly
# show those; the code ones start at program 20, so all 164 programs are read), tracking ' etcétera'
# too (Gemma-3-270M's top-1 reading at many list commas); semantic roles on 20 programs.
LISTS_PAGE = on_page(LISTS)
ROLES_PAGE = on_page(ROLES)
RAW_HELP = "How the paper's code reads hidden states; Gemma's middle layers need the final norm."

st.title("Code")
st.caption(
    "Paper §3.3. Python is read through English: at a comma inside a list literal, does the "
    "model's middle layer think ' and'? At an argument, does it think of the parameter's name? "
    "HumanEval programs (164) are parsed, never executed."
)
model = require_model()
spec = current_spec()

upload = st.file_uploader("Use your own Python file instead of HumanEval", type=["py", "txt"], key="code_upload")
programs = None
if upload is not None:
    try:
        programs = tuple(load_user_code(upload.getvalue(), upload.name))
    except HubError as exc:
        st.error(str(exc), icon=":material/error:")
source = upload.name if programs else HUMANEVAL


def run_on_programs(exp: Experiment, values: dict) -> object:
    """Run a code experiment on HumanEval or the upload (which stands in for `--source FILE.py`)."""
    kwargs, _ = exp.call_kwargs({**values, "source": HUMANEVAL})
    return run_experiment(exp.func, spec, **kwargs, programs=programs)


def show_skipped(skipped: dict) -> None:
    """Visible counts of snippets/positions that could not be used, by reason."""
    used = {k: v for k, v in dict(skipped).items() if v}
    if used:
        st.caption("Skipped: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in used.items()))


# keyed tabs keep the open one across reruns, and `?tab=Live+lens+strip` opens it from a link
tab_lists, tab_roles, tab_range, tab_strip = st.tabs(
    ["List literals", "Semantic roles", "range(0, end) steering", "Live lens strip"], key="tab", bind="query-params")

with tab_lists:
    start = initial_values(LISTS_PAGE)
    with st.form("code_lists"):
        c1, c2, c3, c4, c5 = st.columns(5)
        n_prog = param_number(c1, "Programs (the first ones)", LISTS, "max_programs", start["max_programs"], "code_n")
        sites_choices = list(LISTS.param("sites").choices)
        sites = c2.selectbox("Commas in", sites_choices, index=sites_choices.index(start["sites"]), key="code_sites",
                             help="Most HumanEval lists sit in docstring examples (strings), not in code.")
        extra = c3.text_input("Extra words", ", ".join(start["extra_words"] or ()), key="code_extra",
                              help="Also track these words (Gemma reads ' etcétera' at layer 12).")
        lens = lens_choice(c4, LISTS, start["lens"], "code_lens")
        raw = c5.toggle("Raw (no final norm)", bool(start["raw"]), key="code_raw", help=RAW_HELP)
        st.form_submit_button("Run", type="primary", icon=":material/play_arrow:")
    values = {"source": source, "sites": sites, "raw": bool(raw), "lens": lens, "n_boot": start["n_boot"],
              "max_programs": n_prog,
              "extra_words": [w.strip() for w in extra.split(",") if w.strip()]}
    sync_url(LISTS_PAGE, values)
    with user_errors():
        rep = run_on_programs(LISTS, values)
    chart = layer_lines(rep.curves, y="mean_logprob", series="target", band=("ci_low", "ci_high"),
                        y_title=f"mean log p ({lens} lens)", y_floor=-30.0,
                        title="At list-literal commas: ' and' / ' or' / ' not' vs the true next token",
                        paired=(rep.difference, "' and'", "' or'"))
    output_block(rep.csv_frame(), chart, "code_list_literals", LISTS, values, spec,
                 caption="The paper (Llama-2) finds ' and' above ' or' and ' not' in the middle layers: "
                         "the comma is read as a conjunction. Compare the and/or/not lines; values below "
                         "−30 are drawn at −30.")
    dchart = layer_lines(rep.difference.assign(series=rep.contrast), y="mean_diff", series="series",
                         band=("ci_low", "ci_high"), y_title="log p(and) − log p(or)",
                         title="Paired difference (above 0 = ' and' wins)", zero=("' and'", "' or'"))
    output_block(rep.csv_frame("difference"), dchart, "code_and_minus_or", LISTS, values, spec,
                 caption="Per comma, log p(' and') − log p(' or') at each layer, averaged with a 95% CI "
                         "over programs; frac_positive in the CSV is the share of commas where ' and' wins.")
    for note in rep.notes:
        st.info(note)
    show_skipped(rep.skipped)

with tab_roles:
    start = initial_values(ROLES_PAGE, prefix="roles.")
    with st.form("code_roles"):
        c1, c2, c3 = st.columns(3)
        n_roles = param_number(c1, "Programs (the first ones)", ROLES, "max_programs", start["max_programs"],
                               "code_roles_n")
        lens_roles = lens_choice(c2, ROLES, start["lens"], "code_roles_lens")
        raw_roles = c3.toggle("Raw (no final norm)", bool(start["raw"]), key="code_roles_raw", help=RAW_HELP)
        go_roles = st.form_submit_button("Run semantic roles", icon=":material/play_arrow:")
    if run_requested("code_roles", go_roles):
        values = {"source": source, "raw": bool(raw_roles), "lens": lens_roles, "n_boot": start["n_boot"],
                  "max_programs": n_roles}
        sync_url(ROLES_PAGE, values, prefix="roles.")
        with user_errors():
            rrep = run_on_programs(ROLES, values)
        rchart = layer_lines(rrep.curves, y="mean_logprob", series="target", band=("ci_low", "ci_high"),
                             y_title=f"mean log p ({lens_roles} lens)", y_floor=-30.0,
                             title="Before an argument: the parameter's name vs the argument itself",
                             compare=("role", "argument"))
        output_block(rrep.csv_frame(), rchart, "code_semantic_roles", ROLES, values, spec,
                     caption="At the '(' or ',' before each argument: log p of the parameter name (e.g. "
                             "' stop' for range) vs the first token of the argument actually written.")
        show_skipped(rrep.skipped)
    else:
        st.info("Press **Run semantic roles** (the lens runs at every argument).")

with tab_range:
    start = initial_values(RANGE, prefix="range.")
    st.caption("At the '(' of single-argument range( calls, add s × (W_U['start'] − W_U['end']) at "
               "layer l; success = the model now writes range(0, end).")
    scales = list(RANGE.param("scale").choices)
    scale = st.radio("Strength units", scales, index=scales.index(start["scale"]), horizontal=True,
                     key="code_range_scale",
                     help="raw: s multiplies W_U[start] − W_U[end] as in the paper. residual: s is a "
                          "fraction of the hidden state's norm at '(' (on Gemma-3-270M the raw vector "
                          "is ~1 while the state is ~5,000, so raw strengths 0–8 change nothing).")
    grid = list(RESIDUAL_STRENGTHS) + [0.25] if scale == "residual" else [0.0, 1.0, 2.0, 4.0, 8.0, 16.0]
    chosen = [float(s) for s in start["strengths"]]
    with st.form("code_range"):
        c1, c2 = st.columns(2)
        layer = layer_slider(model, "code_range_layer", low=1, default=start["layer"], container=c1)
        strengths = c2.multiselect("Strengths (one batched generation)", grid,
                                   default=chosen if set(chosen) <= set(grid) else grid[:5],
                                   key=f"code_range_s_{scale}")
        go_range = st.form_submit_button("Run steering", icon=":material/play_arrow:")
    if run_requested("code_range", go_range):
        values = {"source": source, "layer": layer, "strengths": sorted(set(strengths) | {0.0}), "scale": scale}
        sync_url(RANGE, values, prefix="range.")
        with user_errors():
            srep = run_on_programs(RANGE, values)
        st.caption(f"Vector: W_U[{srep.tokens[0]!r}] − W_U[{srep.tokens[1]!r}] (norm "
                   f"{srep.vector_norm:.2f}); unsteered, {srep.base_matches_argument:.0%} of "
                   "continuations begin the real argument.")
        rates = srep.rates.assign(series=lambda d: "layer " + d["layer"].astype(str))
        schart = layer_lines(rates, y="success_rate", series="series", band=("ci_low", "ci_high"),
                             y_title="share written as range(0, …)", x="strength",
                             x_title="steering strength (0 = none)",
                             title=f"range(0, end) success by strength ({srep.n_items} calls)",
                             baseline=("the share written as range(0, …)", "its unsteered share"))
        output_block(srep.csv_frame("rates"), schart, "code_range_steer", RANGE, values, spec,
                     caption="Share of calls the model continues as range(0, …), with a 95% CI over "
                             "calls; changed_rate in the CSV is the share whose text differs from "
                             "strength 0.")
        for note in srep.notes:
            st.info(note)
        with st.expander("Generations per item"):
            st.dataframe(srep.generations, hide_index=True, width="stretch")
    else:
        st.info("Choose a layer and strengths and press **Run steering**.")

with tab_strip:
    start = initial_values(STRIP, prefix="strip.")
    snippet = st.text_area("Code", start["code"] or SNIPPET, height=120, key="code_strip_text")
    c1, c2, c3 = st.columns([3, 1, 1])
    strip_layer = layer_slider(model, "code_strip_layer", label="Layer to read", default=start["layer"],
                               container=c1)
    strip_lens = lens_choice(c2, STRIP, start["lens"], "code_strip_lens")
    strip_raw = c3.toggle("Raw (no final norm)", bool(start["raw"]), key="code_strip_raw", help=RAW_HELP)
    values = {"code": snippet, "layer": strip_layer, "top_k": 1, "raw": bool(strip_raw), "lens": strip_lens}
    sync_url(STRIP, values, prefix="strip.")
    with user_errors():
        kwargs, _ = STRIP.call_kwargs(values)
        strip = run_experiment(lens_strip, spec, **kwargs)
    chart = token_strip(strip.strip, title=f"Top {strip_lens}-lens token at layer {strip_layer} (bold) above each code token")
    output_block(strip.csv_frame(), chart, "code_lens_strip", STRIP, values, spec, stretch=False,
                 caption="Bottom row: the code's tokens; top row: what the layer would predict next at "
                         "each one, coloured by its probability. Hover a cell for the numbers.")
