"""Multilingual page: translation similarity per layer, English anchoring, language per layer.

Three registered experiments, one tab each (`similarity`, `anchoring`, `languages`). Their
parameters sit in the URL side by side (anchoring's and languages' keys prefixed) next to the open
tab, and every result comes with the command that reproduces it: a built-in set is named as such
(`--pairs 'Chinese–English (HSK sentences)'`), an uploaded file by its file name.
"""

from typing import Any, Optional

import pandas as pd
import streamlit as st

from app.blocks import initial_values, lens_choice, on_page, output_block, sync_url
from app.charts import layer_lines, stacked_layers
from app.widgets import current_spec, require_model, run_experiment, run_requested, spec_for, user_errors
from hubcore.data.parallel import PairSet, available_pair_sets, find_pair_set
from hubcore.experiments.anchoring import anchoring
from hubcore.experiments.multilingual import TEMPLATES, UPLOAD, language_probabilities, translation_similarity
from hubcore.experiments.registry import Param, of

# the page opens on quick samples of HSK (hubcore.experiments.page_defaults; the CLI's defaults
# read whole files and sets)
SIM = on_page(of(translation_similarity))
ANC = on_page(of(anchoring))
LANG = on_page(of(language_probabilities))
ANC_KEYS, LANG_KEYS = "anchoring.", "languages."  # URL key prefixes of the second and third tab
TABS = ("Similarity", "Anchoring", "Language probability")
UPLOAD_PAIRS, UPLOAD_TEXTS = "Upload your own pairs…", "Upload your own texts…"
TEXTS_LABEL, TEXT_FILE = "Texts (a set's first column)", "Upload texts (one per line, UTF-8)"

st.title("Multilingual")
st.caption(
    "Paper §3.1. Do translations share hidden states in the middle layers, and is that shared "
    "space anchored in English?"
)
model = require_model()
SETS = available_pair_sets()
link_tab = st.session_state.setdefault("_multilingual_link_tab", st.query_params.get("tab"))


def number(container: Any, label: str, p: Param, value: Any, key: str, step: int = 1) -> int:
    """A number input with the parameter's own range (from the registry)."""
    return int(container.number_input(label, int(p.low), int(p.high), int(value), step=step, key=key))


Picked = tuple[str, Optional[bytes], Optional[PairSet]]  # source name, upload bytes, built-in set


def pick_source(key: str, label: str, start: str, upload_label: str, file_label: str) -> Optional[Picked]:
    """A built-in set or an uploaded file; None until a file is uploaded. A link whose run used
    a file opens on the upload, naming that file."""
    start = find_pair_set(start) or start
    names = list(SETS) + [upload_label]
    name = st.selectbox(label, names, index=names.index(start) if start in names else len(names) - 1,
                        key=f"{key}_set")
    if name != upload_label:
        with user_errors():
            pset = SETS[name]()
        st.caption(f"{len(pset):,} pairs · {pset.source}" + (f" · {pset.note}" if pset.note else ""))
        return name, None, pset
    file = st.file_uploader(file_label, type=["tsv", "csv", "txt"], key=f"{key}_upload")
    if file is None:
        hint = f" This link's run used '{start}': upload it again." if start not in names else ""
        st.info("Upload a UTF-8 file to run this experiment." + hint)
        return None
    return file.name, file.getvalue(), None


def show_notes(notes: list[str]) -> None:
    if notes:
        st.caption(" ".join(notes))


def similarity_tab() -> None:
    start = initial_values(SIM)
    picked = pick_source("sim", "Pairs", start["pairs"], UPLOAD_PAIRS,
                         "Upload pairs (TSV/CSV, two columns, no header, UTF-8)")
    if picked is None:
        return
    source, data, pset = picked
    if pset is None:
        c1, c2 = st.columns(2)
        lang_a = c1.text_input("Language of column 1", "zh", key="sim_la")
        lang_b = c2.text_input("Language of column 2", "en", key="sim_lb")
    else:
        lang_a, lang_b = pset.lang_a, pset.lang_b
    same = source == start["pairs"]
    with st.form("sim_form"):
        c1, c2 = st.columns(2)
        tmpl_a = c1.text_input("Template A", start["template_a"] if same else TEMPLATES.get(lang_a, "{}"),
                               key=f"sim_ta_{lang_a}")
        tmpl_b = c2.text_input("Template B", start["template_b"] if same else TEMPLATES.get(lang_b, "{}"),
                               key=f"sim_tb_{lang_b}")
        c1, c2, c3 = st.columns(3)
        n = number(c1, "Pairs used (random sample)", SIM.param("max_pairs"), start["max_pairs"], "sim_n", 10)
        n_boot = number(c2, "Bootstrap resamples", SIM.param("n_boot"), start["n_boot"], "sim_boot", 100)
        overlay = c3.text_input("Overlay a second model (spec)", "",
                                help="e.g. a local folder or a cached hub id; drawn dashed.")
        st.form_submit_button("Run", type="primary", icon=":material/play_arrow:")
    values = {"pairs": source, "template_a": tmpl_a, "template_b": tmpl_b, "n_boot": n_boot,
              "seed": start["seed"], "max_pairs": n}
    sync_url(SIM, values)
    specs = [current_spec()] + ([spec_for(overlay.strip())] if overlay.strip() else [])
    with user_errors():
        kwargs, notes = SIM.call_kwargs({**values, UPLOAD: data})
        runs = [(spec, run_experiment(translation_similarity, spec, **kwargs)) for spec in specs]
    show_notes(notes)
    n_pairs = runs[0][1].n_pairs
    curves = pd.concat([res.curves.assign(model=spec.label) for spec, res in runs], ignore_index=True)
    curves["series"] = curves["metric"] + " · " + curves["model"]
    table = curves.drop(columns="series") if overlay.strip() else runs[0][1].csv_frame()
    note = (f"The overlay's curves: the same command with --model {overlay.strip()}."
            if overlay.strip() else "")
    sim_chart = layer_lines(curves, y="adjusted", series="series", band=("ci_low", "ci_high"),
                            y_title="matched − non-matching cosine",
                            title=f"{lang_a}–{lang_b} translation similarity ({n_pairs} pairs)",
                            zero=("translations", "non-matching pairs"))
    output_block(table, sim_chart, "similarity", SIM, values, current_spec(), note=note, caption=(
        "Above zero = translations are more similar than non-matching pairs at that layer (band: "
        "95% bootstrap CI over pairs). 'raw' is the paper's cosine; 'centered' subtracts each "
        "side's mean state first: raw cosine in small models is dominated by a few huge "
        "dimensions, so its differences are tiny."))
    ret_chart = layer_lines(curves, y="retrieval_at_1", series="series", y_title="retrieval@1",
                            title="Translation retrieval@1 (chance = 1/pairs)")
    output_block(table, ret_chart, "similarity_retrieval", SIM, values, current_spec(), note=note,
                 caption="Fraction of inputs whose most similar state on the other side is their "
                         "own translation.")


def text_language(key: str, pset: Optional[PairSet], start_lang: str) -> str:
    """The texts' language: the set's first column, or asked for an uploaded file."""
    if pset is not None:
        return pset.lang_a
    return st.text_input("Language of the texts (code)", start_lang or "zh", key=f"{key}_lang").strip()


def anchoring_tab() -> None:
    st.caption(
        "Eq. 3: at positions where the next token is a dictionary word, compare the lens's log p "
        "of the word's English translation with log p of the actual next token, per layer."
    )
    start = initial_values(ANC, prefix=ANC_KEYS)
    picked = pick_source("anc", TEXTS_LABEL, start["texts"], UPLOAD_TEXTS, TEXT_FILE)
    if picked is None:
        return
    source, data, pset = picked
    lang = text_language("anc", pset, start["lang"])
    with st.form("anc_form"):
        c1, c2, c3 = st.columns(3)
        n_texts = number(c1, "Texts used", ANC.param("max_texts"), start["max_texts"], "anc_n", 5)
        lens = lens_choice(c2, ANC, start["lens"], "anc_lens")
        raw = c3.toggle("Raw (no final norm)", bool(start["raw"]), key="anc_raw")
        go = st.form_submit_button("Run anchoring", icon=":material/play_arrow:")
    values = {"texts": source, "lang": lang, "raw": raw, "lens": lens, "n_boot": start["n_boot"],
              "seed": start["seed"], "max_texts": n_texts}
    sync_url(ANC, values, prefix=ANC_KEYS)
    if not run_requested("anc_requested", go or link_tab == TABS[1]):
        st.info("Choose texts and press **Run anchoring** (the lens runs at every used position).")
        return
    with user_errors():
        kwargs, notes = ANC.call_kwargs({**values, UPLOAD: data})
        res = run_experiment(anchoring, current_spec(), **kwargs)
    show_notes(notes + res.notes)
    anc_chart = layer_lines(res.curves, y="mean_logprob", series="target",
                            band=("ci_low", "ci_high"), y_title=f"mean log p ({lens} lens)",
                            title=f"English translation vs actual next token ({lang})",
                            y_floor=-30.0, paired=(res.difference, "the English translation",
                                                   "the actual next token"))
    output_block(res.csv_frame(), anc_chart, "anchoring", ANC, values, current_spec(),
                 caption=f"{len(res.items)} positions in {res.n_texts} texts; band: 95% bootstrap "
                         f"CI over {res.bootstrap}. Values below −30 are drawn at −30 (the CSV has "
                         "them all).")
    diff = res.difference.assign(series="English − next")
    diff_chart = layer_lines(diff, y="mean_diff", series="series", band=("ci_low", "ci_high"),
                             y_title="log p(English) − log p(next)",
                             title="Paired difference (above 0 = English wins)", y_floor=-30.0,
                             zero=("the English translation", "the actual next token"))
    output_block(res.csv_frame("difference"), diff_chart, "anchoring_difference", ANC, values,
                 current_spec(), note="The difference is written beside --out as <out>_difference.csv.",
                 caption="Per position, log p(English translation) − log p(actual next token), "
                         "averaged with a 95% CI. Wins in the first few layers reflect the "
                         "unembedding's token-frequency prior rather than meaning: the paper's claim "
                         "concerns the middle layers.")
    if raw:
        st.warning("Without the final norm, log-probs of middle layers reach the thousands "
                   "(the residual norm, not meaning): an apparent English 'win' there is an "
                   "artefact of the raw lens.")
    with st.expander(f"Positions used ({len(res.items)}) and skipped"):
        st.dataframe(res.items, hide_index=True, width="stretch")
        st.write(res.skipped)


def languages_tab() -> None:
    st.caption(
        "Figure 4: p(language | h) = Σ p(language | token) · p_lens(token | h), with "
        "p(language | token) from word-frequency lists; averaged over positions and texts."
    )
    start = initial_values(LANG, prefix=LANG_KEYS)
    picked = pick_source("lang", TEXTS_LABEL, start["texts"], UPLOAD_TEXTS, TEXT_FILE)
    if picked is None:
        return
    source, data, pset = picked
    lang = pset.lang_a if pset is not None else ""
    guess = f"en,{lang}" if lang and lang != "en" else "en,zh"
    with st.form("lang_form"):
        c1, c2, c3, c4 = st.columns(4)
        codes = c1.text_input("Languages (codes)",
                              ",".join(start["languages"]) if source == start["texts"] else guess,
                              key=f"lang_codes_{lang}")
        n_l = number(c2, "Texts used", LANG.param("max_texts"), start["max_texts"], "lang_n")
        lens = lens_choice(c3, LANG, start["lens"], "lang_lens")
        raw = c4.toggle("Raw (no final norm)", bool(start["raw"]), key="lang_raw")
        go = st.form_submit_button("Run language probability", icon=":material/play_arrow:")
    values = {"texts": source, "languages": [c.strip() for c in codes.split(",") if c.strip()],
              "raw": raw, "lens": lens, "n_boot": start["n_boot"], "seed": start["seed"], "max_texts": n_l}
    sync_url(LANG, values, prefix=LANG_KEYS)
    if not run_requested("lang_requested", go or link_tab == TABS[2]):
        st.info("Choose texts and languages and press **Run language probability**.")
        return
    with user_errors():
        kwargs, notes = LANG.call_kwargs({**values, UPLOAD: data})
        res = run_experiment(language_probabilities, current_spec(), **kwargs)
    show_notes(notes)
    chart = stacked_layers(res.curves, value="prob", category="language", order=res.languages,
                           title=f"Language of the lens reading per layer ({len(kwargs['texts'])} texts)")
    output_block(res.csv_frame(), chart, "language_probability", LANG, values, current_spec(),
                 caption=f"Each bar splits the lens distribution by language ({res.n_positions} "
                         "positions). 'other' = tokens no chosen language's top-5,000 words use "
                         "(punctuation, code, other scripts). A semantic hub anchored in English "
                         "shows English rising mid-network.")


try:  # the open tab travels in the URL too (`?tab=Anchoring` opens and runs that tab)
    tabs = st.tabs(TABS, key="tab", on_change="rerun", default=link_tab if link_tab in TABS else None)
    open_tab = next((label for label, tab in zip(TABS, tabs) if tab.open), TABS[0])
    if st.query_params.get("tab") != open_tab:
        st.query_params["tab"] = open_tab
except TypeError:  # a Streamlit older than the pinned one has no tab state
    tabs = st.tabs(TABS)
tab_sim, tab_anchor, tab_lang = tabs
with tab_sim:
    similarity_tab()
with tab_anchor:
    anchoring_tab()
with tab_lang:
    languages_tab()
