"""Multilingual page: translation similarity per layer, English anchoring, language per layer."""

import pandas as pd
import streamlit as st

from app.charts import export_buttons, layer_lines, stacked_layers
from app.widgets import current_spec, require_model, run_experiment, run_requested, upload_pairs, user_errors
from hubcore.data.parallel import available_pair_sets
from hubcore.experiments.anchoring import anchoring
from hubcore.experiments.multilingual import (TEMPLATES, language_probabilities,
                                              translation_similarity)
from hubcore.models import ModelSpec

st.title("Multilingual")
st.caption(
    "Paper §3.1. Do translations share hidden states in the middle layers, and is that shared "
    "space anchored in English?"
)
model = require_model()
SETS = available_pair_sets()
UPLOAD = "Upload your own pairs…"


def pick_pairs(key: str, default: str) -> tuple[list[tuple[str, str]], str, str]:
    """Built-in or uploaded pairs, sampled to the chosen size; returns (pairs, lang_a, lang_b)."""
    names = list(SETS) + [UPLOAD]
    name = st.selectbox("Pairs", names, index=names.index(default) if default in names else 0,
                        key=f"{key}_set")
    if name == UPLOAD:
        pairs = upload_pairs(key=f"{key}_upload") or []
        c1, c2 = st.columns(2)
        lang_a = c1.text_input("Language of column 1", "zh", key=f"{key}_la")
        lang_b = c2.text_input("Language of column 2", "en", key=f"{key}_lb")
        if not pairs:
            st.info("Upload a two-column TSV/CSV file (no header) to run this experiment.")
            st.stop()
    else:
        with user_errors():
            pset = SETS[name]()
        pairs, lang_a, lang_b = pset.pairs, pset.lang_a, pset.lang_b
        st.caption(f"{len(pairs):,} pairs · {pset.source}" + (f" · {pset.note}" if pset.note else ""))
    return pairs, lang_a, lang_b


def sample(items: list, n: int, seed: int = 0) -> list:
    import random

    if len(items) <= n:
        return list(items)
    return random.Random(seed).sample(list(items), n)


tab_sim, tab_anchor, tab_lang = st.tabs(["Similarity", "Anchoring", "Language probability"])

with tab_sim:
    pairs, lang_a, lang_b = pick_pairs("sim", "Chinese–English (HSK sentences)")
    with st.form("sim_form"):
        c1, c2 = st.columns(2)
        tmpl_a = c1.text_input("Template A", TEMPLATES.get(lang_a, "{}"), key=f"sim_ta_{lang_a}")
        tmpl_b = c2.text_input("Template B", TEMPLATES.get(lang_b, "{}"), key=f"sim_tb_{lang_b}")
        c1, c2, c3 = st.columns(3)
        n = c1.number_input("Pairs used (random sample)", 10, 2000, min(100, max(10, len(pairs))), step=10)
        n_boot = c2.number_input("Bootstrap resamples", 0, 5000, 1000, step=100)
        overlay = c3.text_input("Overlay a second model (spec)", "",
                                help="e.g. a local folder or a cached hub id; drawn dashed.")
        st.form_submit_button("Run", type="primary", icon=":material/play_arrow:")
    chosen = sample(pairs, int(n))
    specs = [current_spec()] + ([ModelSpec(source=overlay.strip())] if overlay.strip() else [])
    frames = []
    with user_errors():
        for spec in specs:
            rep = run_experiment(translation_similarity, spec, pairs=tuple(chosen), template_a=tmpl_a,
                                 template_b=tmpl_b, n_boot=int(n_boot))
            frames.append(rep.curves.assign(model=spec.label))
    curves = pd.concat(frames, ignore_index=True)
    curves["series"] = curves["metric"] + " · " + curves["model"]
    sim_chart = layer_lines(curves, y="adjusted", series="series", band=("ci_low", "ci_high"),
                            y_title="matched − non-matching cosine",
                            title=f"{lang_a}–{lang_b} translation similarity ({len(chosen)} pairs)")
    st.altair_chart(sim_chart, width="stretch")
    st.caption(
        "Above zero = translations are more similar than non-matching pairs at that layer (band: "
        "95% bootstrap CI over pairs). 'raw' is the paper's cosine; 'centered' subtracts each "
        "side's mean state first: raw cosine in small models is dominated by a few huge "
        "dimensions, so its differences are tiny."
    )
    ret_chart = layer_lines(curves, y="retrieval_at_1", series="series", y_title="retrieval@1",
                            title="Translation retrieval@1 (chance = 1/pairs)")
    st.altair_chart(ret_chart, width="stretch")
    st.caption("Fraction of inputs whose most similar state on the other side is their own translation.")
    export_buttons(curves, sim_chart, "similarity")
    export_buttons(curves, ret_chart, "similarity_retrieval")

with tab_anchor:
    st.caption(
        "Eq. 3: at positions where the next token is a dictionary word, compare the lens's log p "
        "of the word's English translation with log p of the actual next token, per layer."
    )
    pairs_a, lang_a2, _ = pick_pairs("anc", "Chinese–English (HSK sentences)")
    with st.form("anc_form"):
        c1, c2 = st.columns(2)
        n_texts = c1.number_input("Texts used", 5, 500, 40, step=5, key="anc_n")
        raw_a = c2.toggle("Raw (no final norm)", False, key="anc_raw")
        go = st.form_submit_button("Run anchoring", icon=":material/play_arrow:")
    if run_requested("anc_requested", go):
        texts = [a for a, _ in sample(pairs_a, int(n_texts), seed=1)]
        with user_errors():
            arep = run_experiment(anchoring, current_spec(), texts=tuple(texts), lang=lang_a2, raw=raw_a)
        anc_chart = layer_lines(arep.curves, y="mean_logprob", series="target",
                                band=("ci_low", "ci_high"), y_title="mean log p (logit lens)",
                                title=f"English translation vs actual next token ({lang_a2})",
                                y_floor=-30.0)
        st.altair_chart(anc_chart, width="stretch")
        diff = arep.difference.assign(series="English − next")
        diff_chart = layer_lines(diff, y="mean_diff", series="series", band=("ci_low", "ci_high"),
                                 y_title="log p(English) − log p(next)",
                                 title="Paired difference (above 0 = English wins)", y_floor=-30.0)
        st.altair_chart(diff_chart, width="stretch")
        wins = arep.english_wins()
        st.caption(
            ("The English translation is more likely than the actual next token (whole CI above "
             "zero) at layers " + ", ".join(map(str, wins)) + ". Wins in the first few layers "
             "reflect the unembedding's token-frequency prior rather than meaning: the paper's "
             "claim concerns the middle layers.") if wins else
            "The English translation never beats the actual next token on this model and data "
            "(a null result for Eq. 3's strong form); compare the curves' gap across layers."
        )
        if raw_a:
            st.warning("Without the final norm, log-probs of middle layers reach the thousands "
                       "(the residual norm, not meaning): an apparent English 'win' there is an "
                       "artefact of the raw lens.")
        export_buttons(arep.csv_frame(), anc_chart, "anchoring")
        export_buttons(arep.difference, diff_chart, "anchoring_difference")
        with st.expander(f"Positions used ({len(arep.items)}) and skipped"):
            st.dataframe(arep.items, hide_index=True, width="stretch")
            st.write(arep.skipped)
    else:
        st.info("Choose texts and press **Run anchoring** (the lens runs at every used position).")

with tab_lang:
    st.caption(
        "Figure 4: p(language | h) = Σ p(language | token) · p_lens(token | h), with "
        "p(language | token) from word-frequency lists; averaged over positions and texts."
    )
    pairs_l, lang_a3, _ = pick_pairs("lang", "Chinese–English (HSK sentences)")
    with st.form("lang_form"):
        c1, c2, c3 = st.columns(3)
        langs = c1.text_input("Languages (codes)", f"en,{lang_a3}" if lang_a3 != "en" else "en,zh",
                              key=f"lang_codes_{lang_a3}")
        n_l = c2.number_input("Texts used", 2, 200, 12, key="lang_n")
        raw_l = c3.toggle("Raw (no final norm)", False, key="lang_raw")
        go_l = st.form_submit_button("Run language probability", icon=":material/play_arrow:")
    if run_requested("lang_requested", go_l):
        texts_l = [a for a, _ in sample(pairs_l, int(n_l), seed=2)]
        with user_errors():
            lrep = run_experiment(language_probabilities, current_spec(), texts=tuple(texts_l),
                                  languages=tuple(langs.split(",")), raw=raw_l)
        lang_chart = stacked_layers(lrep.curves, value="prob", category="language",
                                    order=lrep.languages,
                                    title=f"Language of the lens reading per layer ({len(texts_l)} texts)")
        st.altair_chart(lang_chart, width="stretch")
        st.caption(
            f"Each bar splits the lens distribution by language ({lrep.n_positions} positions). "
            "'other' = tokens no chosen language's top-5,000 words use (punctuation, code, other "
            "scripts). A semantic hub anchored in English shows English rising mid-network."
        )
        export_buttons(lrep.curves, lang_chart, "language_probability")
    else:
        st.info("Choose texts and languages and press **Run language probability**.")
