"""Steering page: cross-lingual ActAdd (paper §4) with live layer/coefficient sliders, side-by-side
generations, scored sweeps and the scorers' measured accuracy."""

import streamlit as st

from app.charts import export_buttons, layer_lines
from app.widgets import current_spec, require_model, run_experiment, run_requested, upload_texts, user_errors
from hubcore.data.steering_prompts import PROMPT_SETS, prompt_set
from hubcore.experiments import actadd as S
from hubcore.scoring.sentiment import accuracy_table, scorer_info

LANGS = {"es": "Spanish", "zh": "Chinese", "en": "English"}
SET_FOR = {"es": "es-prefixes", "zh": "zh-reviews", "en": "en-prefixes"}

st.title("Steering")
st.caption(
    "Paper §4 (Tables 1-2), ActAdd (Turner et al.): add coef × (h(positive) − h(negative)) at one "
    "layer on the prompt's first tokens, once, and generate. Does steering Spanish or Chinese text "
    "with an English pair work as well as with a pair in the text's own language?"
)
model = require_model()
L = model.num_layers

c1, c2 = st.columns([1, 3])
lang = c1.selectbox("Text language", list(LANGS), format_func=LANGS.get, key="st_lang")
examples = prompt_set(SET_FOR[lang], 12, seed=0)
prompt = c2.selectbox("Prompt (or type your own below)", examples, key=f"st_prompt_{lang}")
prompt = st.text_input("Prompt", prompt, key=f"st_text_{lang}_{examples.index(prompt)}")
instruction = st.text_input("Instruction prefix (empty = none)", S.default_instruction(lang),
                            key=f"st_instr_{lang}")

c1, c2, c3, c4 = st.columns(4)
native = S.preset(lang)
nat_pos = c1.text_input(f"{LANGS[lang]} pair: positive", native.positive, key=f"st_np_{lang}")
nat_neg = c2.text_input(f"{LANGS[lang]} pair: negative", native.negative, key=f"st_nn_{lang}")
eng = S.preset("en")
en_pos = c3.text_input("English pair: positive", eng.positive, key="st_ep")
en_neg = c4.text_input("English pair: negative", eng.negative, key="st_en")
pairs = tuple(dict.fromkeys([S.Pair(nat_pos, nat_neg, lang), S.Pair(en_pos, en_neg, "en")]))

c1, c2 = st.columns(2)
layer = c1.slider("Layer", 0, L, S.default_layer(model), key="st_layer",
                  help="0 = embeddings, L = last block. The paper steers about the middle.")
coef = c2.slider("Coefficient", -40.0, 40.0, 5.0, step=0.5, key="st_coef",
                 help="Negative values push towards the negative word. The paper uses 5.")

with st.expander("Generation settings (defaults: the paper's)"):
    g1, g2, g3, g4, g5 = st.columns(5)
    seeds = g1.number_input("Seeds", 1, 8, 2, key="st_seeds")
    new_tokens = g2.number_input("New tokens", 4, 128, 32, step=4, key="st_new")
    temperature = g3.number_input("Temperature", 0.05, 5.0, 1.0, step=0.1, key="st_temp")
    top_p = g4.number_input("Top-p", 0.01, 1.0, 0.3, step=0.05, key="st_topp")
    penalty = g5.number_input("Frequency penalty", 0.0, 5.0, 1.0, step=0.5, key="st_pen")
    h1, h2 = st.columns(2)
    greedy = h1.toggle("Greedy (plain argmax: no sampling, seeds or frequency penalty)", False, key="st_greedy")
    norm_keep = h2.toggle("Norm-preserving (change direction only)", False, key="st_norm")
generation = S.Generation(int(new_tokens), bool(greedy), float(temperature), float(top_p),
                          0.0 if greedy else float(penalty))
common = dict(lang=lang, instruction=instruction, generation=generation, norm_preserving=bool(norm_keep))

info = scorer_info(lang)
tab_side, tab_sweep, tab_scorers = st.tabs(["Side by side", "Sweep", "Scorers"])

with tab_side:
    with user_errors():
        rep = run_experiment(S.steer, current_spec(), prompts=(prompt,), pairs=pairs, layers=(layer,),
                             coefs=(0.0, float(coef)), seeds=tuple(range(int(seeds))), n_boot=0, **common)
    rows = rep.rows
    base = rows[(rows.coef == 0) & (rows.pair == pairs[0].label)]
    columns = [("Unsteered", base)] + [
        (f"Steered with {p.label}", rows[(rows.coef == float(coef)) & (rows.pair == p.label)]) for p in pairs
    ] if coef != 0 else [("Unsteered (coefficient 0)", base)]
    cols = st.columns(len(columns))
    for col, (title, df) in zip(cols, columns):
        col.markdown(f"**{title}**")
        for r in df.itertuples():
            col.markdown(f"<small>seed {r.seed} · sentiment {r.sentiment:+.2f} · perplexity "
                         f"{r.perplexity:.1f} · in {LANGS[lang]} {r.in_language:.0%}</small>",
                         unsafe_allow_html=True)
            col.text(prompt + "▸" + r.continuation)
    st.caption(
        f"Layer {layer}, coefficient {coef:g}; the vector goes on the first tokens of the input "
        f"(instruction included). Sentiment: {info.name} ({info.description}) Perplexity: of the "
        "continuation under the unsteered model (higher = less fluent). 'in language': share of "
        "the continuation's words in the prompt's language."
    )
    for note in rep.notes:
        st.info(note)
    export_buttons(rows, None, "steering_side_by_side")

with tab_sweep:
    st.markdown("Coefficient × layer sweep over a prompt set, every setting one row of a batched "
                "generation. Lines: mean sentiment (95% CI over prompts) per steering pair.")
    uploaded = upload_texts("st_upload", "Or upload prompts (one per line, UTF-8)")
    with st.form("st_sweep"):
        f1, f2, f3 = st.columns(3)
        n_prompts = f1.number_input(f"Prompts from {PROMPT_SETS[SET_FOR[lang]].name}", 1, 200, 4, key="st_n")
        coefs_text = f2.text_input("Coefficients", "-16, -8, -4, 0, 4, 8, 16", key="st_coefs")
        sweep_layers = f3.multiselect("Layers", list(range(L + 1)), [S.default_layer(model)], key="st_layers")
        go = st.form_submit_button("Run sweep", type="primary", icon=":material/play_arrow:")
    if run_requested("st_sweep", go):
        with user_errors():
            coefs = S.parse_coefficients(coefs_text)
            prompts = tuple(uploaded) if uploaded else tuple(prompt_set(SET_FOR[lang], int(n_prompts), seed=0))
            sweep = run_experiment(S.steer, current_spec(), prompts=prompts, pairs=pairs,
                                   layers=tuple(sorted(sweep_layers)), coefs=coefs,
                                   seeds=tuple(range(int(seeds))), **common)
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
        chart = charts[0]
        for direction, word in ((1.0, "positive"), (-1.0, "negative")):
            best = S.best_setting(summary, direction)
            if best is None:
                st.info(f"No setting moved sentiment {word} while keeping perplexity within 2× of "
                        "the unsteered text.")
            else:
                st.write(f"Largest **{word}** shift with perplexity within 2× of unsteered: "
                         f"{best['pair']}, layer {best['layer']}, coefficient {best['coef']:g}: "
                         f"{best['shift']:+.3f} (perplexity {best['perplexity']:.1f}).")
        st.caption(f"{len(prompts)} prompts × {int(seeds)} seeds per point. Sentiment: {info.name}. "
                   "A flat line is a null result: the steering did not move the scorer.")
        with st.expander("All generations"):
            st.dataframe(sweep.rows, hide_index=True, width="stretch")
        export_buttons(summary, chart, "steering_sweep")

with tab_scorers:
    st.markdown("Each sentiment number on this page comes from a per-language offline scorer. "
                "Their accuracy, measured on labelled data (sign of the score vs the label):")
    if run_requested("st_scorers", st.button("Measure scorer accuracy", key="st_measure")):
        acc = accuracy_table()
        st.dataframe(acc, hide_index=True, width="stretch")
    for code in LANGS:
        i = scorer_info(code)
        st.markdown(f"- **{LANGS[code]}: {i.name}**: {i.description} _{i.source}_")
