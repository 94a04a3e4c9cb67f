"""Logit Lens page: a layer x position heatmap of top-1 readings and target-token curves."""

import streamlit as st

from app.charts import export_buttons, layer_lines, lens_heatmap
from app.widgets import current_spec, example_picker, require_model, run_experiment, user_errors
from hubcore.experiments.logit_lens import EXAMPLES, logit_lens

st.title("Logit Lens")
st.caption(
    "Each hidden state is read through the model's own final norm and output head. At the last "
    "layer this *is* the model's next-token distribution; in the middle layers it shows what the "
    "model is 'thinking'. For Chinese or Spanish input, look for English tokens mid-network."
)
model = require_model()

text_default, targets_default = example_picker(EXAMPLES, key="lens_example")
with st.form("lens_form"):
    text = st.text_area("Text", value=text_default, height=90, key=f"lens_text_{text_default}")
    c1, c2, c3 = st.columns([3, 1, 1])
    targets_text = c1.text_input(
        "Target words (comma-separated)", value=", ".join(targets_default),
        key=f"lens_targets_{text_default}",
        help="Tracked with and without a leading space; the more likely surface form is reported.",
    )
    top_k = c2.number_input("top-k", min_value=1, max_value=20, value=5)
    raw = c3.toggle("Raw (no final norm)", value=False,
                    help="How the paper's code reads hidden states; for Gemma the middle layers "
                         "become unreadable without the final norm.")
    st.form_submit_button("Run", type="primary", icon=":material/play_arrow:")

targets = tuple(t.strip() for t in targets_text.split(",") if t.strip())
with user_errors():
    report = run_experiment(logit_lens, current_spec(), text=text, top_k=int(top_k),
                            targets=targets, raw=raw)

top = report.num_layers
st.caption(f"{len(report.input_tokens)} tokens: " + " · ".join(repr(t) for t in report.input_tokens))
lo, hi = st.slider("Layers shown", 0, top, (0, top), key="lens_layers")
cells = report.cells()
cells = cells[(cells["layer"] >= lo) & (cells["layer"] <= hi)]
heat = lens_heatmap(cells, title="Top-1 logit-lens token per layer and position")
st.altair_chart(heat, width="content")
st.caption(
    "Read it bottom-up: each column is an input position; each cell is the token that layer "
    "would predict next, coloured by its probability. Hover a cell for the top-k."
)
export_buttons(report.csv_frame(), heat, "logit_lens")

if targets:
    st.subheader("Target tokens across layers")
    positions = list(range(len(report.input_tokens)))
    pos = st.select_slider(
        "Position", options=positions, value=positions[-1],
        format_func=lambda p: f"{p}: {report.input_tokens[p]!r}", key="lens_pos",
    )
    tg = report.targets
    tg = tg[(tg["position"] == pos) & (tg["layer"] >= lo) & (tg["layer"] <= hi)].copy()
    tg["series"] = tg["target"] + " (" + tg["variant"] + ": " + tg["token"].map(repr) + ")"
    lines = layer_lines(tg, y="logprob", series="series", y_title="log p (logit lens)",
                        title=f"log p of each target at position {pos}", y_floor=-30.0)
    st.altair_chart(lines, width="stretch")
    best = tg[tg["best"]].groupby("target")["variant"].agg(lambda v: v.value_counts().index[0])
    st.caption(
        "One line per surface form (with / without a leading space); values below −30 are drawn "
        "at −30 (the CSV has them all). The more likely form per target: " + ", ".join(f"{t} → {v}" for t, v in best.items()) + "."
    )
    export_buttons(report.targets, lines, "logit_lens_targets")

with st.expander("Top-k table"):
    st.dataframe(report.csv_frame(), hide_index=True, width="stretch")
