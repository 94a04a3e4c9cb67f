"""Logit Lens page: a layer x position heatmap of top-1 readings and target-token curves.

The targets follow the text: picking an example fills both; editing the text switches the example
box to "Custom" and drops the example's targets (a text gets its own, suggested from its run).
A long text is read and shown through a window of positions (default the last `WINDOW`): the lens
runs on those positions only (issue 17: a 484-token text had taken 131 s for columns nobody saw),
moving the window reads the new ones, and "Read every position" reads them all at once (the window
then moves instantly). The heatmap always fits the page.
"""

import streamlit as st

from app.blocks import initial_values, on_page, output_block, sync_url
from app.charts import layer_lines, lens_heatmap
from app.lens_quality_view import lens_quality_section
from app.widgets import current_spec, load_with_progress, require_model, run_experiment, user_errors
from hubcore.experiments.logit_lens import EXAMPLES, logit_lens, suggest_targets, token_count
from hubcore.experiments.registry import of

EXP = on_page(of(logit_lens))
CUSTOM = "Custom"
EX_KEY, TEXT_KEY, TARGETS_KEY = "lens_example", "lens_text", "lens_targets"
WINDOW = 48  # positions the heatmap shows at first (a range slider moves the window)
INLINE_TOKENS = 24  # longer token lists fold into an expander


def parse_targets(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def pick_example(examples: dict) -> None:
    """Example box callback: the example's text and its targets."""
    name = st.session_state[EX_KEY]
    if name in examples:
        text, targets = examples[name]
        st.session_state[TEXT_KEY] = text
        st.session_state[TARGETS_KEY] = ", ".join(targets)


def text_submitted(examples: dict) -> None:
    """Run callback: an edited text is "Custom", and the example's targets do not follow it."""
    name = st.session_state[EX_KEY]
    if name in examples and st.session_state[TEXT_KEY] != examples[name][0]:
        st.session_state[EX_KEY] = CUSTOM
        if parse_targets(st.session_state[TARGETS_KEY]) == list(examples[name][1]):
            st.session_state[TARGETS_KEY] = ""


def track(words: list[str]) -> None:
    st.session_state[TARGETS_KEY] = ", ".join(words)


st.title("Logit Lens")
st.caption(
    "Each hidden state is read through the model's own final norm and output head. At the last "
    "layer this *is* the model's next-token distribution; in the middle layers it shows what the "
    "model is 'thinking'. For Chinese or Spanish input, look for English tokens mid-network."
)
model = require_model()
start = initial_values(EXP)

examples = dict(EXAMPLES)
if start["text"] not in [t for t, _ in examples.values()]:
    examples = {"From the link": (start["text"], tuple(start.get("targets") or ())), **examples}
if TEXT_KEY not in st.session_state:  # first visit: the link's run, else the first example
    first = next(name for name, (t, _) in examples.items() if t == start["text"])
    st.session_state[EX_KEY] = first
    st.session_state[TEXT_KEY] = start["text"]
    st.session_state[TARGETS_KEY] = ", ".join(start.get("targets") or examples[first][1])
st.selectbox("Example", [*examples, CUSTOM], key=EX_KEY, on_change=pick_example, args=(examples,),
             help="Picking an example fills the text and its target words; editing the text makes it Custom.")
with st.form("lens_form"):
    text = st.text_area("Text", height=90, key=TEXT_KEY)
    c1, c2, c3 = st.columns([3, 1, 1])
    targets_text = c1.text_input(
        "Target words (comma-separated)", key=TARGETS_KEY,
        help="Tracked with and without a leading space; the more likely surface form is reported.",
    )
    top_k = c2.number_input("top-k", min_value=1, max_value=20, value=int(start["top_k"]))
    raw = c3.toggle("Raw (no final norm)", value=bool(start["raw"]),
                    help="How the paper's code reads hidden states; for Gemma the middle layers "
                         "become unreadable without the final norm.")
    lenses = list(EXP.param("lens").choices)  # issue 16: logit | tuned | patchscope
    lens = st.selectbox("Lens", lenses, index=lenses.index(start["lens"]), key="lens_choice",
                        help=EXP.param("lens").help)
    every = st.toggle(f"Read every position (default: the {WINDOW} the heatmap shows)", value=False,
                      key="lens_every", help=f"A text longer than {WINDOW} tokens is read only in the heatmap's "
                                             "window, and moving the window reads the new positions. Switched on, "
                                             "every position is read in one run (longer), and the window then moves "
                                             "without reading anything again.")
    st.form_submit_button("Run", type="primary", icon=":material/play_arrow:", on_click=text_submitted,
                          args=(examples,))

with user_errors():
    n = token_count(text, lambda: getattr(model, "tokenizer", None) or load_with_progress(current_spec()).tokenizer,
                    WINDOW)  # a short text needs no tokenizer: a bundled page opens before the model loads
c1, c2 = st.columns(2)
lo, hi = c1.slider("Layers shown", 0, model.num_layers, (0, model.num_layers), key="lens_layers")
p_lo, p_hi = 0, n - 1
if n > WINDOW:
    linked = [p for p in start.get("positions") or () if 0 <= p < n] if text == start["text"] else []
    first = (min(linked), max(linked)) if linked else (n - WINDOW, n - 1)
    p_lo, p_hi = c2.slider("Positions shown", 0, n - 1, first, key=f"lens_positions_{hash(text)}",
                           help=f"A window of the text's {n} positions (the heatmap fits the page)"
                                + ("." if every else "; moving it reads the new positions."))
windowed = n > WINDOW and not every
values = {"text": text, "top_k": int(top_k), "raw": bool(raw), "targets": parse_targets(targets_text),
          "lens": lens, "positions": list(range(p_lo, p_hi + 1)) if windowed else []}
sync_url(EXP, values)
with user_errors():
    kwargs, _ = EXP.call_kwargs(values)
    report = run_experiment(logit_lens, current_spec(), **kwargs)

tokens = report.input_tokens
n = len(tokens)
listed = " · ".join(repr(t) for t in tokens)
if n <= INLINE_TOKENS:
    st.caption(f"{n} tokens: {listed}")
else:
    with st.expander(f"Input tokens ({n})", icon=":material/format_list_numbered:"):
        st.caption(listed)
read = [int(p) for p in report.positions]  # the positions this result holds (a window, or all)
if not read[0] <= p_lo <= p_hi <= read[-1]:  # a previous result (a stopped run) of another text
    p_lo, p_hi = read[0], read[-1]
if windowed and len(read) < n:
    st.caption(f"Read: positions {p_lo}–{p_hi} of {n} (the window). Switch on \"Read every position\" "
               "to read them all.")
cells = report.cells
cells = cells[(cells["layer"] >= lo) & (cells["layer"] <= hi) & (cells["position"] >= p_lo) & (cells["position"] <= p_hi)]
window = f" (positions {p_lo}–{p_hi} of {n})" if (p_lo, p_hi) != (0, n - 1) else ""
heat = lens_heatmap(cells, title=f"Top-1 {lens}-lens token per layer and position" + window)
output_block(report.csv_frame(), heat, "logit_lens", EXP, values, current_spec(),
             caption="Read it bottom-up: each column is an input position; each cell is the token "
                     "that layer would predict next, coloured by its probability. Hover a cell for "
                     "the top-k." + (" Narrow columns drop their labels: hover them, or narrow the "
                                     "window." if p_hi - p_lo + 1 > 24 else ""))

if values["targets"]:
    st.subheader("Target tokens across layers")
    pos = st.select_slider(
        "Position", options=read, value=read[-1],
        format_func=lambda p: f"{p}: {tokens[p]!r}", key=f"lens_pos_{hash(text)}",
    )
    tg = report.targets
    tg = tg[(tg["position"] == pos) & (tg["layer"] >= lo) & (tg["layer"] <= hi)].copy()
    tg["series"] = tg["target"] + " (" + tg["variant"] + ": " + tg["token"].map(repr) + ")"
    lines = layer_lines(tg, y="logprob", series="series", y_title=f"log p ({lens} lens)",
                        title=f"log p of each target at position {pos} ({tokens[pos]!r})", y_floor=-30.0)
    best = tg[tg["best"]].groupby("target")["variant"].agg(lambda v: v.value_counts().index[0])
    output_block(report.csv_frame("targets"), lines, "logit_lens_targets", EXP, values, current_spec(),
                 caption="One line per surface form (with / without a leading space); values below "
                         "−30 are drawn at −30 (the CSV has them all). One text: no confidence "
                         "intervals, so no verdict. The more likely form per target: "
                         + ", ".join(f"{t} → {v}" for t, v in best.items()) + ".")
else:
    words = suggest_targets(report)
    if words:
        c1, c2 = st.columns([4, 1], vertical_alignment="center")
        c1.info("No target words for this text yet. Worth tracking: the model's answer "
                f"**{words[0]!r}**" + (f" and what its middle layers read, **{words[1]!r}**" if len(words) > 1 else "")
                + ".", icon=":material/lightbulb:")
        c2.button("Track " + ", ".join(words), on_click=track, args=(words,), icon=":material/timeline:",
                  key="lens_track")

with st.expander("Top-k table"):
    st.dataframe(report.csv_frame(), hide_index=True, width="stretch")

lens_quality_section(model, current_spec())
