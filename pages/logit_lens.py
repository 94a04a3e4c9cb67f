"""Logit Lens page: a layer x position heatmap of top-1 readings and target-token curves."""

import streamlit as st

from app.blocks import initial_values, output_block, sync_url
from app.charts import layer_lines, lens_heatmap
from app.widgets import current_spec, example_picker, require_model, run_experiment, user_errors
from hubcore.experiments.logit_lens import EXAMPLES, logit_lens
from hubcore.experiments.registry import of

EXP = of(logit_lens)

st.title("Logit Lens")
st.caption(
    "Each hidden state is read through the model's own final norm and output head. At the last "
    "layer this *is* the model's next-token distribution; in the middle layers it shows what the "
    "model is 'thinking'. For Chinese or Spanish input, look for English tokens mid-network."
)
model = require_model()
start = initial_values(EXP)

examples = dict(EXAMPLES)
if start.get("text") and start["text"] not in [t for t, _ in examples.values()]:
    examples = {"From the link": (start["text"], tuple(start.get("targets") or ())), **examples}
text_default, targets_default = example_picker(examples, key="lens_example")
with st.form("lens_form"):
    text = st.text_area("Text", value=text_default, height=90, key=f"lens_text_{text_default}")
    c1, c2, c3 = st.columns([3, 1, 1])
    targets_text = c1.text_input(
        "Target words (comma-separated)", value=", ".join(targets_default),
        key=f"lens_targets_{text_default}",
        help="Tracked with and without a leading space; the more likely surface form is reported.",
    )
    top_k = c2.number_input("top-k", min_value=1, max_value=20, value=int(start["top_k"]))
    raw = c3.toggle("Raw (no final norm)", value=bool(start["raw"]),
                    help="How the paper's code reads hidden states; for Gemma the middle layers "
                         "become unreadable without the final norm.")
    st.form_submit_button("Run", type="primary", icon=":material/play_arrow:")

values = {"text": text, "top_k": int(top_k), "raw": bool(raw),
          "targets": [t.strip() for t in targets_text.split(",") if t.strip()]}
sync_url(EXP, values)
with user_errors():
    kwargs, _ = EXP.call_kwargs(values)
    report = run_experiment(logit_lens, current_spec(), **kwargs)

top = report.num_layers
st.caption(f"{len(report.input_tokens)} tokens: " + " · ".join(repr(t) for t in report.input_tokens))
lo, hi = st.slider("Layers shown", 0, top, (0, top), key="lens_layers")
cells = report.cells
cells = cells[(cells["layer"] >= lo) & (cells["layer"] <= hi)]
heat = lens_heatmap(cells, title="Top-1 logit-lens token per layer and position")
output_block(report.csv_frame(), heat, "logit_lens", EXP, values, current_spec(), stretch=False,
             caption="Read it bottom-up: each column is an input position; each cell is the token "
                     "that layer would predict next, coloured by its probability. Hover a cell for "
                     "the top-k.")

if values["targets"]:
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
    best = tg[tg["best"]].groupby("target")["variant"].agg(lambda v: v.value_counts().index[0])
    output_block(report.csv_frame("targets"), lines, "logit_lens_targets", EXP, values, current_spec(),
                 caption="One line per surface form (with / without a leading space); values below "
                         "−30 are drawn at −30 (the CSV has them all). The more likely form per "
                         "target: " + ", ".join(f"{t} → {v}" for t, v in best.items()) + ".")

with st.expander("Top-k table"):
    st.dataframe(report.csv_frame(), hide_index=True, width="stretch")
