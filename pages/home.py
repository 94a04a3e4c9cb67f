"""Home: what the app shows, and a link to every page. Loads no model."""

import streamlit as st

from app.registry import EXPERIMENT_PAGES, ROOT

st.title("Semantic Hub Explorer")
st.markdown(
    """
Language models seem to map inputs of many kinds (languages, arithmetic, code, images, audio)
into a **shared representation space** in their middle layers, and that space is **anchored in
the model's dominant language**: read through the model's own output head, the middle layers of
a model fed Chinese often "think" in English tokens. This dashboard reproduces the experiments of
*The Semantic Hub Hypothesis* (Wu et al., ICLR 2025) live, on the embedded Gemma-3-270M or any
Hugging Face model you point it at (sidebar).

Layers are numbered the same way everywhere: **0 = embeddings, 1..L = the output of each block**.
Every chart can be exported (CSV/PNG) and re-run headless with `python -m hubcore`.
"""
)
for page in EXPERIMENT_PAGES:
    with st.container(border=True):
        st.page_link(str(page.path), label=page.title, icon=page.icon)
        st.caption(page.blurb)
if (CHECKUP := ROOT / "docs" / "checkup" / "default.html").exists():  # the shipped report (issue 15)
    st.download_button("The default model's checkup report (HTML, opens offline)", CHECKUP.read_bytes(),
                       file_name="checkup_default.html", mime="text/html", icon=":material/fact_check:",
                       on_click="ignore")
st.caption(
    "The small default model shows some of the paper's effects and not others; each page says "
    "what it measured. Null results are results."
)
