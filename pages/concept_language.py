"""Concept vs language page: activation patching between word-translation prompts (Dumas et al.
2025) and the latent language per layer (Wendler et al. 2024).

Three registered experiments, one tab each (`patching concept`, `patching mean`,
`latent-language`). Each costs many forwards, so each runs behind its button (or when a link
names its tab); their parameters sit in the URL side by side (the second and third tabs' keys
prefixed) and every result comes with the command that reproduces it.
"""

import streamlit as st

from app.blocks import initial_values, on_page, output_block, param_number, sync_url
from app.charts import layer_lines
from app.phase_bands import with_phases
from app.widgets import current_spec, require_model, run_experiment, run_requested, user_errors
from hubcore.experiments.latent_language import TASKS, latent_language
from hubcore.experiments.patching import OUTCOMES, concept_patching, mean_patching
from hubcore.experiments.registry import of

# the page opens on smaller samples than the CLI (each item is ~20 patched forwards on CPU)
CONCEPT = on_page(of(concept_patching), n=20, n_boot=200)
MEAN = on_page(of(mean_patching), n=20, n_boot=200)
LATENT = on_page(of(latent_language), n=30, n_boot=200)
MEAN_KEYS, LATENT_KEYS = "mean.", "latent."  # URL key prefixes of the second and third tabs
TABS = ("Concept vs language", "Mean latent", "Latent language")
LENSES = ("logit", "tuned", "patchscope")

st.title("Concept vs language")
st.caption(
    "Is the output language decided before the concept, or after? A source prompt translates X "
    "(German → French), a target prompt translates Y (Spanish → Chinese); the source's last-token "
    "state at layer l replaces the target's, and the target's answer is read (Dumas et al., ACL "
    "2025). Words are emoji labels (CC-CEDICT for Chinese) kept where the answer is one token."
)
model = require_model()
link_tab = st.session_state.setdefault("_concept_link_tab", st.query_params.get("tab"))


def langs(exp, names: tuple[str, ...], start: dict, key: str) -> dict:
    """One selectbox per language parameter, side by side."""
    cols = st.columns(len(names))
    choices = list(exp.param(names[0]).choices)
    return {n: c.selectbox(exp.param(n).help[:1].upper() + exp.param(n).help[1:], choices, index=choices.index(start[n]), key=f"{key}_{n}")
            for c, n in zip(cols, names)}


def concept_tab() -> None:
    start = initial_values(CONCEPT)
    with st.form("cl_concept"):
        chosen = langs(CONCEPT, ("source_input", "source_lang", "target_input", "target_lang"), start, "cl")
        c1, c2 = st.columns(2)
        n = param_number(c1, "Items (prompt pairs)", CONCEPT, "n", start["n"], "cl_n", 10)
        n_boot = param_number(c2, "Bootstrap resamples", CONCEPT, "n_boot", start["n_boot"], "cl_boot", 100)
        go = st.form_submit_button("Run patching", type="primary", icon=":material/play_arrow:")
    values = {**chosen, "n": n, "n_boot": n_boot, "seed": start["seed"], "onward": bool(start["onward"])}
    sync_url(CONCEPT, values)
    if not run_requested("cl_concept", go or link_tab == TABS[0]):
        st.info("Press **Run patching** (about 20 patched forwards per item).")
        return
    with user_errors():
        kwargs, _ = CONCEPT.call_kwargs(values)
        res = run_experiment(concept_patching, current_spec(), **kwargs)
    chart = layer_lines(res.curves, y="prob", series="outcome", band=("ci_low", "ci_high"),
                        y_title="p(outcome) in the patched target",
                        title=f"Source state written into the target at one layer ({res.n_items} items)",
                        compare=[(OUTCOMES[2], OUTCOMES[0]), (OUTCOMES[1], OUTCOMES[0])])
    switch = res.values["switch"]  # {"language": layer or None, "concept": ...}
    said = ", ".join(f"{k} at layer {v}" if v is not None else f"{k}: never" for k, v in switch.items())
    output_block(res.csv_frame(), chart, "concept_language", CONCEPT, values, current_spec(), caption=(
        "Patching at layer l writes the source's last-token state there; the target then runs on. "
        "Early layers: the target keeps its own answer. Where the source's language takes over, "
        "'X in L_S' and 'Y in L_S' rise; where its concept does, 'X in L_T' and 'X in L_S'. "
        f"Switch layers (first layer whose mean difference is above zero): {said}. Unpatched, the "
        f"target's own answer has p = {res.baseline_own:.2f} and the source's p = {res.baseline_source:.2f}."))
    for note in res.notes:
        st.info(note)
    with st.expander(f"Switch layers and prompt pairs ({res.n_items})"):
        st.dataframe(res.tables["switch"], hide_index=True, width="stretch")
        st.dataframe(res.tables["items"], hide_index=True, width="stretch")


def mean_tab() -> None:
    start = initial_values(MEAN, prefix=MEAN_KEYS)
    with st.form("cl_mean"):
        c1, c2, c3 = st.columns(3)
        choices = list(MEAN.param("lang").choices)
        lang = c1.selectbox("Translate into", choices, index=choices.index(start["lang"]), key="clm_lang")
        input_lang = c2.selectbox("Translate from", choices, index=choices.index(start["input_lang"]), key="clm_input")
        averaged = c3.multiselect("Latents averaged over", choices, default=list(start["languages"]), key="clm_langs")
        c4, c5 = st.columns(2)
        n = param_number(c4, "Concepts", MEAN, "n", start["n"], "clm_n", 10)
        n_boot = param_number(c5, "Bootstrap resamples", MEAN, "n_boot", start["n_boot"], "clm_boot", 100)
        go = st.form_submit_button("Run mean-latent patching", icon=":material/play_arrow:")
    values = {"lang": lang, "input_lang": input_lang, "languages": averaged, "n": n, "n_boot": n_boot,
              "seed": start["seed"]}
    sync_url(MEAN, values, prefix=MEAN_KEYS)
    if not run_requested("cl_mean", go or link_tab == TABS[1]):
        st.info("Press **Run mean-latent patching**.")
        return
    with user_errors():
        kwargs, _ = MEAN.call_kwargs(values)
        res = run_experiment(mean_patching, current_spec(), **kwargs)
    table = res.tables["accuracy"]
    names = list(dict.fromkeys(table["condition"]))
    chart = layer_lines(table, y="accuracy", series="condition", band=("ci_low", "ci_high"),
                        y_title="translation accuracy (top-1 = X in L_T)",
                        title=f"Patching concept X's latent into a translation of Y ({res.n_items} concepts)",
                        compare=[(names[0], names[2]), (names[0], names[1])])
    output_block(table, chart, "concept_language_mean", MEAN, values, current_spec(), caption=(
        "At layers l..L the word's state in a translation prompt for Y is replaced by X's latent: the "
        "mean over the chosen languages, or one language's alone. Accuracy: the answer's top token is X's "
        "word (Wilson 95% CI); the flat line is the model translating X itself, unpatched."))
    for note in res.notes:
        st.info(note)


def latent_tab() -> None:
    start = initial_values(LATENT, prefix=LATENT_KEYS)
    with st.form("cl_latent"):
        c1, c2, c3, c4 = st.columns(4)
        task = c1.selectbox("Task", TASKS, index=TASKS.index(start["task"]), key="cll_task")
        lang = c2.text_input("Answer language", start["lang"], key="cll_lang")
        input_lang = c3.text_input("Translate from (translation)", start["input_lang"], key="cll_input")
        lens = c4.selectbox("Lens", LENSES, index=LENSES.index(start["lens"]), key="cll_lens",
                            help=LATENT.param("lens").help)
        c5, c6 = st.columns(2)
        n = param_number(c5, "Prompts", LATENT, "n", start["n"], "cll_n", 10)
        n_boot = param_number(c6, "Bootstrap resamples", LATENT, "n_boot", start["n_boot"], "cll_boot", 100)
        go = st.form_submit_button("Run latent language", icon=":material/play_arrow:")
    values = {"task": task, "lang": lang.strip(), "input_lang": input_lang.strip(), "lens": lens, "n": n,
              "n_boot": n_boot, "seed": start["seed"], "patchscope_layer": start.get("patchscope_layer")}
    sync_url(LATENT, values, prefix=LATENT_KEYS)
    if not run_requested("cl_latent", go or link_tab == TABS[2]):
        st.info("Press **Run latent language**.")
        return
    with user_errors():
        kwargs, _ = LATENT.call_kwargs(values)
        res = run_experiment(latent_language, current_spec(), **kwargs)
    chart = layer_lines(res.curves, y="prob", series="language", band=("ci_low", "ci_high"),
                        y_title=f"p(word) through the {res.lens} lens",
                        title=f"English vs {res.lang} word, {res.task} ({res.n_items} prompts)",
                        compare=("en", res.lang))
    output_block(res.csv_frame(), with_phases(chart, res.tables["phases"], res.num_layers), "latent_language", LATENT, values,
                 current_spec(), caption=(
        "At the last prompt position: the probability of the answer word and of its English translation, "
        "per layer (95% bootstrap CI over prompts). Shaded: input phase (both below 1%), English phase "
        "(English's CI above the target's), target phase (the reverse). Wendler et al. find all three on "
        f"Llama-2; at the last layer here p(en) = {res.final['en']:.3f}, p({res.lang}) = {res.final[res.lang]:.3f}."))
    for note in res.notes:
        st.info(note)


tab_concept, tab_mean, tab_latent = st.tabs(TABS, key="tab", bind="query-params")
with tab_concept:
    concept_tab()
with tab_mean:
    mean_tab()
with tab_latent:
    latent_tab()
