"""Steering page: cross-lingual ActAdd (paper §4) with live layer/coefficient sliders, side-by-side
generations streamed token by token into a session history, scored sweeps (`sweep`) and the
scorers' measured accuracy (`scorers`)."""

import streamlit as st

from app import steering_view as V
from app.blocks import initial_values, layer_slider, on_page, output_block, sync_url
from app.charts import export_buttons, layer_lines
from app.widgets import current_spec, require_model, run_experiment, run_requested, upload_texts, user_errors
from hubcore.data.steering_prompts import PROMPT_SETS, prompt_set
from hubcore.experiments import actadd as S
from hubcore.experiments.registry import Experiment, default_layer, of

SWEEP, SCORERS = of(S.steer), of(S.scorers)
LANGS = {"es": "Spanish", "zh": "Chinese", "en": "English"}
SET_FOR = {"es": "es-prefixes", "zh": "zh-reviews", "en": "en-prefixes"}
# Where the page opens (the CLI keeps its own defaults): the side by side's defaults live in
# hubcore.experiments.page_defaults (the demo bundle computes exactly that call); sweeps over 4
# prompts and coefficients -16..16.
SIDE = on_page(SWEEP)
SWEEPS = on_page(SWEEP, lang="es", presets="", n=4, coefs=[-16.0, -8.0, -4.0, 0.0, 4.0, 8.0, 16.0], seeds=2)

st.title("Steering")
st.caption(
    "Paper §4 (Tables 1-2), ActAdd (Turner et al.): add coef × (h(positive) − h(negative)) at one "
    "layer on the prompt's first tokens, once, and generate. Does steering Spanish or Chinese text "
    "with an English pair work as well as with a pair in the text's own language?"
)
model = require_model()
spec = current_spec()
start = initial_values(SIDE)


def ranged(exp: Experiment, name: str) -> tuple:
    """A number widget's (min, max) from the parameter's declared range."""
    p = exp.param(name)
    return p.type(p.low), p.type(p.high)


def steer_run(exp: Experiment, values: dict) -> object:
    kwargs, _ = exp.call_kwargs(values)
    return run_experiment(exp.func, spec, **kwargs)


c1, c2 = st.columns([1, 3])
lang = c1.selectbox("Text language", list(LANGS), format_func=LANGS.get, key="st_lang",
                    index=list(LANGS).index(start["lang"]) if start["lang"] in LANGS else 0)
examples = prompt_set(SET_FOR[lang], 12, seed=0)
same_lang = lang == start["lang"]  # the link's (or the page's default) prompt and pairs are in its language
linked = (start["prompt"] or [None])[0] if same_lang else None
if linked and linked not in examples:
    examples = [linked] + examples
prompt = c2.selectbox("Prompt (or type your own below)", examples, key=f"st_prompt_{lang}")
prompt = st.text_input("Prompt", prompt, key=f"st_text_{lang}_{examples.index(prompt)}")
default_instruction = S.default_instruction(lang)
instruction = st.text_input("Instruction prefix (empty = none)",
                            default_instruction if start["instruction"] is None else start["instruction"],
                            key=f"st_instr_{lang}")

given = [p.split(":", 1) for p in start["pair"] or () if ":" in p] if same_lang else []
native = given[0] if len(given) == 2 else S.PRESET_PAIRS[lang]
english = given[1] if len(given) == 2 else S.PRESET_PAIRS["en"]
c1, c2, c3, c4 = st.columns(4)
nat_pos = c1.text_input(f"{LANGS[lang]} pair: positive", native[0], key=f"st_np_{lang}")
nat_neg = c2.text_input(f"{LANGS[lang]} pair: negative", native[1], key=f"st_nn_{lang}")
en_pos = c3.text_input("English pair: positive", english[0], key="st_ep")
en_neg = c4.text_input("English pair: negative", english[1], key="st_en")
pairs = list(dict.fromkeys([f"{nat_pos}:{nat_neg}", f"{en_pos}:{en_neg}"]))

c1, c2 = st.columns(2)
layer = layer_slider(model, "st_layer", default=(start["layers"] or [None])[0], container=c1,
                     help="0 = embeddings, L = last block. The paper steers about the middle.")
coef = c2.slider("Coefficient", -40.0, 40.0, next((float(c) for c in reversed(start["coefs"]) if c), 0.0),
                 step=0.5, key="st_coef", help="Negative values push towards the negative word. The paper uses 5.")

with st.expander("Generation settings (defaults: the paper's)"):
    g1, g2, g3, g4, g5 = st.columns(5)
    seeds = g1.number_input("Seeds", *ranged(SWEEP, "seeds"), int(start["seeds"]), key="st_seeds")
    new_tokens = g2.number_input("New tokens", *ranged(SWEEP, "max_new_tokens"), int(start["max_new_tokens"]),
                                 step=4, key="st_new")
    temperature = g3.number_input("Temperature", *ranged(SWEEP, "temperature"), float(start["temperature"]),
                                  step=0.1, key="st_temp")
    top_p = g4.number_input("Top-p", *ranged(SWEEP, "top_p"), float(start["top_p"]), step=0.05, key="st_topp")
    penalty_default = S.Generation.frequency_penalty
    penalty = g5.number_input("Frequency penalty", *ranged(SWEEP, "frequency_penalty"),
                              float(penalty_default if start["frequency_penalty"] is None else start["frequency_penalty"]),
                              step=0.5, key="st_pen")
    h1, h2 = st.columns(2)
    greedy = h1.toggle("Greedy (plain argmax: no sampling, seeds or frequency penalty)", bool(start["greedy"]),
                       key="st_greedy")
    norm_keep = h2.toggle("Norm-preserving (change direction only)", bool(start["norm_preserving"]), key="st_norm")
common = {
    "lang": lang, "presets": "", "pair": pairs, "seeds": int(seeds), "greedy": bool(greedy),
    "instruction": None if instruction == default_instruction else instruction,
    "max_new_tokens": int(new_tokens), "temperature": float(temperature), "top_p": float(top_p),
    "frequency_penalty": None if greedy or penalty == penalty_default else float(penalty),
    "norm_preserving": bool(norm_keep),
}

info = S.scorer_info(lang)
# keyed tabs keep the open one across reruns, and `?tab=Sweep` opens it from a link
tab_side, tab_sweep, tab_scorers = st.tabs(["Side by side", "Sweep", "Scorers"], key="tab", bind="query-params")

with tab_side:
    values = {**common, "prompt": [prompt], "layers": [layer], "coefs": [0.0, coef] if coef else [0.0],
              "n_boot": 0}
    sync_url(SIDE, values)
    with user_errors():
        kwargs, _ = SWEEP.call_kwargs(values)
    labels = [p.label for p in kwargs["pairs"]]
    shown_seeds = list(kwargs["seeds"][:1] if kwargs["generation"].greedy else kwargs["seeds"])
    key = (spec, tuple(sorted(kwargs.items())))
    history, channel = V.History(st.session_state), V.Channel.of(st.session_state)
    V.prompt_line(prompt)
    view = V.SideBySide(V.columns_for(labels, coef), shown_seeds, history.latest, LANGS[lang])
    channel.attach(key, view)
    with user_errors():
        rep = run_experiment(SWEEP.func, spec, stream=S.Stream(channel.publisher(key)), **kwargs)
    if V.shows(rep, prompt, layer, coef, labels):
        run = history.record(key, lambda n: V.run_from_rows(
            rep.rows, n, key, prompt, layer, coef, labels, shown_seeds, V.settings_of(kwargs)))
        view.finish(run)
    if rep.sentiment_warning:
        st.warning(rep.sentiment_warning, icon=":material/warning:")
    for note in rep.notes:
        st.info(note)
    output_block(rep.csv_frame(), None, "steering_side_by_side", SWEEP, values, spec,
                 caption=f"Layer {layer}, coefficient {coef:g}; the vector goes on the first tokens of the "
                         f"input (instruction included). Sentiment: {info.name} ({info.description}) "
                         "Perplexity: of the continuation under the unsteered model (higher = less "
                         "fluent). 'in language': share of the continuation's words in the prompt's "
                         "language. Text is shown as generated: markup escaped, control characters as "
                         "symbols (␐ = byte 0x10, ↵ = line break).")
    V.history_block(history, LANGS[lang], export_buttons)

with tab_sweep:
    sstart = initial_values(SWEEPS, prefix="sweep.")
    st.markdown("Coefficient × layer sweep over a prompt set, every setting one row of a batched "
                "generation. Lines: mean sentiment (95% CI over prompts) per steering pair.")
    uploaded = upload_texts("st_upload", "Or upload prompts (one per line, UTF-8)")
    with st.form("st_sweep"):
        f1, f2, f3 = st.columns(3)
        n_prompts = f1.number_input(f"Prompts from {PROMPT_SETS[SET_FOR[lang]].name}", int(SWEEP.param("n").low),
                                    200, int(sstart["n"]), key="st_n")
        coefs_text = f2.text_input("Coefficients", ", ".join(f"{c:g}" for c in sstart["coefs"]), key="st_coefs")
        sweep_layers = f3.multiselect("Layers", list(range(model.num_layers + 1)),
                                      list(sstart["layers"] or [default_layer(model)]), key="st_layers")
        go = st.form_submit_button("Run sweep", type="primary", icon=":material/play_arrow:")
    if run_requested("st_sweep", go):
        with user_errors():
            values = {**common, "prompt": list(uploaded) if uploaded else None,
                      "prompt_set": None if uploaded else SET_FOR[lang], "n": int(n_prompts),
                      "layers": sorted(sweep_layers), "coefs": list(S.parse_coefficients(coefs_text)),
                      "n_boot": sstart["n_boot"]}
            sync_url(SWEEPS, values, prefix="sweep.")
            sweep = steer_run(SWEEP, values)
        summary = sweep.summary
        shown = st.selectbox("Layer shown", sorted(summary.layer.unique()), key="st_shown")
        view = summary[summary.layer == shown]
        metric = st.radio("Beside sentiment", ["perplexity", "in_language", "relevance"],
                          horizontal=True, key="st_metric")
        charts = [
            layer_lines(view, y=m, series="pair", band=(f"{m}_low", f"{m}_high"),
                        y_title=f"mean {m.replace('_', ' ')}", x="coef", x_title="coefficient",
                        title=f"{m.replace('_', ' ').capitalize()} vs coefficient, layer {shown}")
            for m in ("sentiment", metric)
        ]
        for col, chart in zip(st.columns(2), charts):
            col.altair_chart(chart, width="stretch")
        if sweep.sentiment_warning:
            st.warning(sweep.sentiment_warning, icon=":material/warning:")
        for best, line in zip((sweep.best_positive, sweep.best_negative), sweep.verdicts):
            if best is None:
                st.info(line, icon=":material/do_not_disturb_on:")
            else:
                st.success(line, icon=":material/check_circle:")
        with st.expander("All generations"):
            st.dataframe(sweep.rows, hide_index=True, width="stretch")
        output_block(sweep.csv_frame("summary"), charts[0], "steering_sweep", SWEEP, values, spec,
                     caption=f"{sweep.n_prompts} prompts × {int(seeds)} seeds per point. Sentiment: "
                             f"{info.name}. A flat line is a null result: the steering did not move "
                             "the scorer. The export holds every layer and metric.")

with tab_scorers:
    st.markdown("Each sentiment number on this page comes from a per-language offline scorer. "
                "Their accuracy, measured on labelled data (sign of the score vs the label):")
    cstart = initial_values(SCORERS, prefix="scorers.")
    if run_requested("st_scorers", st.button("Measure scorer accuracy", key="st_measure")):
        values = {"langs": list(cstart["langs"]), "seed": cstart["seed"]}
        sync_url(SCORERS, values, prefix="scorers.")
        with user_errors():
            acc = steer_run(SCORERS, values)
        for note in acc.notes:
            st.warning(note, icon=":material/warning:")
        st.dataframe(acc.accuracy, hide_index=True, width="stretch")
        output_block(acc.csv_frame(), None, "steering_scorers", SCORERS, values, None,
                     caption="accuracy: share of labelled items whose score has the label's sign (a score "
                             "of exactly 0 counts as wrong), with a 95% bootstrap CI; coverage: share "
                             "with a non-zero score.")
    for code in LANGS:
        i = S.scorer_info(code)
        st.markdown(f"- **{LANGS[code]}: {i.name}**: {i.description} _{i.source}_")
