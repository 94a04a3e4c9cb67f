"""The Logit Lens page's lens-quality section: KL(final || lens) per layer on held-out text for
the logit and the tuned lens (`lens-quality`), and training the tuned lens (`tune-lens`) where
this model has none yet. Kept out of the page file so the page's own edits stay apart."""

from __future__ import annotations

import streamlit as st

from app.blocks import initial_values, on_page, output_block, param_number, sync_url
from app.charts import layer_lines
from app.widgets import run_experiment, run_requested, user_errors
from hubcore.experiments.lenses import HELD_OUT, lens_quality, tune_lens
from hubcore.experiments.registry import of
from hubcore.models import Handle, ModelSpec
from hubcore.tuned_lens import DEFAULT_TOKENS, has_translators, not_trained

QUALITY = on_page(of(lens_quality), max_texts=12, n_boot=200)
TUNE = of(tune_lens)
KEYS = "quality."  # URL key prefix of the section


def lens_quality_section(model: Handle, spec: ModelSpec) -> None:
    """Both lenses' KL to the model's final distribution per layer, behind a button (or a link
    naming `quality.max_texts`); a train button where the tuned lens is missing."""
    st.subheader("Lens quality: logit vs tuned lens")
    st.caption("How far each layer's reading is from the model's own next-token distribution: mean "
               "KL(final ‖ lens) in nats over the held-out tenth of the tune-lens corpus (text the "
               "translators never saw), 95% bootstrap CI over texts. The tuned lens should sit below the "
               "logit lens at almost every layer (Belrose et al. 2023); layer L is the model's output for both.")
    if getattr(model, "loading", False):  # a demo-bundle stand-in: no weights to fingerprint yet
        st.info("Lens quality needs the model itself: it appears here once the model has loaded.")
        return
    trained = has_translators(model)
    if not trained:
        st.info(not_trained(model), icon=":material/model_training:")
        if run_requested("tune_lens", st.button(f"Train the tuned lens ({DEFAULT_TOKENS:,} tokens)",
                                                icon=":material/model_training:", key="tune_lens_go")):
            with user_errors():
                res = run_experiment(tune_lens, spec, tokens=DEFAULT_TOKENS)
            st.success(" ".join(TUNE.report(res)) if TUNE.report else "Tuned lens trained.")
            trained = has_translators(model)
    start = initial_values(QUALITY, prefix=KEYS)
    with st.form("lens_quality"):
        max_texts = param_number(st, "Held-out texts", QUALITY, "max_texts", start["max_texts"], "lq_texts", 4)
        go = st.form_submit_button("Measure KL per layer", icon=":material/straighten:")
    lenses = ["logit", "tuned"] if trained else ["logit"]
    values = {"texts": HELD_OUT, "lens": lenses, "max_texts": max_texts, "n_boot": start["n_boot"],
              "seed": start["seed"]}
    sync_url(QUALITY, {**values, "lens": list(QUALITY.param("lens").default)}, prefix=KEYS)
    if not run_requested("lens_quality", go or f"{KEYS}max_texts" in st.query_params):
        st.info("Press **Measure KL per layer** (one forward per text and lens).")
        return
    with user_errors():
        kwargs, _ = QUALITY.call_kwargs(values)
        res = run_experiment(lens_quality, spec, **kwargs)
    chart = layer_lines(res.quality, y="kl", series="lens", band=("ci_low", "ci_high"),
                        y_title="KL(final ‖ lens), nats", title=f"Lens quality on {res.n_texts} held-out texts "
                        f"({res.n_tokens:,} tokens)", compare=("tuned", "logit") if trained else None)
    output_block(res.csv_frame(), chart, "lens_quality", QUALITY, values, spec,
                 caption="Lower is closer to what the model finally says. "
                         + (" ".join(res.notes) if res.notes else "Only the logit lens: train the tuned lens above."))
