"""Audio page: Whisper hears a clip (recordings, event sounds, uploads, the microphone), and four
experiments on its encoder and decoder (paper §3.5, §3.6, §4, appendix C).

Every computation is a registered experiment (`audio transcribe|similarity|lens|steer`): the
widgets fill a values dict named like the CLI options, the URL carries it (the tabs' keys
prefixed), and every result comes with its chart, export and the command that reproduces it.
"""

from dataclasses import replace
from typing import Any

import streamlit as st

from app.blocks import initial_values, layer_slider, on_page, output_block, run_kwargs, sync_url
from app.charts import layer_lines
from app.widgets import current_spec, require_model, run_experiment, run_requested, user_errors
from hubcore.data.parallel import language_name
from hubcore.experiments import audio as A
from hubcore.experiments.registry import Param, of

LANGS = list(A.LANGS)
FORCED = ["detect"] + LANGS + ["de", "it", "pt", "zh", "ja"]  # the language-token choices
SOUNDS = ["Asterisk recording", "Freedesktop sound", "Upload", "Microphone"]
TRANSCRIBE, SIM = of(A.transcribe), of(A.audio_similarity)
# the page opens on quick samples (the CLI's defaults are the larger runs of docs/audio.md)
# (hubcore.experiments.page_defaults, where the demo bundle reads them too)
LABEL = on_page(SIM, tag="label")
CROSS = on_page(SIM, tag="crosslingual")
LENS = on_page(of(A.lens_translation))
STEER = on_page(of(A.steer_word))

st.title("Audio")
st.caption(
    "Paper §3.5–§4 on speech. Whisper base (multilingual, embedded: converted once from its "
    "PyPI CTranslate2 packages) hears a clip; its encoder (6 blocks) and decoder (6 blocks) are "
    "read layer by layer. Layer 0 = embeddings, i = output of block i. Recordings: the Asterisk "
    "telephony prompts, the same prompt ids read in English, Spanish and French."
)

source = st.text_input("Speech model", "default", key="audio_model",
                       help="'default' (embedded Whisper base; the first run converts it, ~20 s), a "
                            "local Hugging Face Whisper or Qwen2-Audio folder, or a hub id already in "
                            "the local cache. dtype, device, downloads, remote code and where traces "
                            "run follow the sidebar.").strip() or "default"
with user_errors():  # the sidebar's settings, this page's speech model (no text module map)
    spec = replace(current_spec(), source=source, kind="speech", rename=())
model = require_model(kind="speech", spec=spec)


def number(container: Any, label: str, p: Param, value: Any, key: str, step: int = 1) -> int:
    """A number input with the parameter's own range (from the registry)."""
    return int(container.number_input(label, int(p.low), int(p.high), int(value), step=step, key=key))


# ----------------------------------------------------------------------------- listen
st.subheader("Listen and transcribe")
start = initial_values(TRANSCRIBE)
linked_path = (start["audio"] or [None])[0]  # a link names the sound by its path, as the CLI does
linked = A.recording_of(linked_path)
sounds = A.freedesktop_sounds()
linked_kind = 0 if linked else 1 if linked_path in sounds.values() else 0
kind = st.radio("Sound", SOUNDS, index=linked_kind, horizontal=True, key="audio_kind")
audio, name, ref, lang = None, None, None, None
with user_errors():
    if kind == "Asterisk recording":
        c1, c2 = st.columns([1, 3])
        lang = c1.selectbox("Language", LANGS, index=LANGS.index(linked.lang) if linked else 0,
                            format_func=language_name, key="audio_lang")
        clips = {c.id: c for c in A.asterisk_clips(lang)}
        wanted = linked.id if linked and linked.lang == lang else "conf-invalid"
        pick = c2.selectbox("Prompt", list(clips), index=list(clips).index(wanted) if wanted in clips else 0,
                            key="audio_clip", format_func=lambda i: f"{i}: {clips[i].text[:70]}")
        audio, name, ref = clips[pick].path, pick, clips[pick].path
        st.caption(f"Asterisk transcript: *{clips[pick].text}*")
    elif kind == "Freedesktop sound":
        if not sounds:
            st.info("The freedesktop sound theme is not installed (Debian sound-theme-freedesktop).")
        else:
            names = list(sounds)
            here = next((n for n, p in sounds.items() if p == linked_path), names[0])
            pick = st.selectbox("Event sound", names, index=names.index(here), key="audio_fd")
            audio, name, ref = sounds[pick], pick, sounds[pick]
    elif kind == "Upload":
        up = st.file_uploader(f"WAV, FLAC or OGG, up to {A.MAX_SECONDS:.0f} s",
                              type=["wav", "flac", "ogg", "oga", "mp3"], key="audio_upload")
        if up is not None:
            audio, name, ref = up.getvalue(), up.name, up.name
    else:
        rec = st.audio_input("Record a short clip", key="audio_mic")
        if rec is not None:
            audio, name, ref = rec.getvalue(), "microphone", "microphone.wav"
    # A built-in recording's language is known: the token defaults to it (detection hears short
    # Spanish prompts as Portuguese); uploads and the microphone default to detection.
    from_link = ref is not None and ref == linked_path
    default_token = (start["language"] or "detect") if from_link else (lang or "detect")
    forced = st.selectbox("Language token", FORCED, index=FORCED.index(default_token) if default_token in FORCED else 0,
                          key=f"audio_force_{kind}_{lang or ''}",
                          help="Whisper's language token: the recording's own language for a built-in "
                               "recording, or let Whisper detect it.")
if audio is not None:
    st.audio(audio if isinstance(audio, bytes) else open(audio, "rb").read())
    values = {"audio": [ref], "language": None if forced == "detect" else forced}
    builtin = not isinstance(audio, bytes)
    sync_url(TRANSCRIBE, values if builtin else {"language": values["language"]})
    with user_errors():
        heard = run_experiment(A.transcribe, spec, audio=(audio,), names=(name,), language=values["language"])
    row = heard.transcripts.iloc[0]
    st.success(f"**[{row.language}]** {row.text or '(nothing transcribed)'}")
    output_block(heard.csv_frame(), None, "audio_transcript", TRANSCRIBE, values, spec,
                 note="" if builtin else f"Give the path of your file to --audio ({ref}).")
else:
    st.info("Pick, upload or record a sound to hear what Whisper transcribes.")

# ----------------------------------------------------------------------------- experiments
tab_a, tab_b, tab_c, tab_d = st.tabs(["(a) Audio vs label", "(b) Cross-lingual speech",
                                      "(c) Lens: thinking in English?", "(d) Steering a word"])

with tab_a:
    st.markdown(
        "Compared position: **`<|notimestamps|>`**, the last prompt token, from which Whisper "
        "predicts the first word. *Hearing*: the clip in the encoder and the prompt "
        "`<|startoftranscript|><|lang|><|transcribe|><|notimestamps|>`. *Reading*: 30 s of "
        "silence in the encoder and the transcript as Whisper's previous-text prefix, "
        "`<|startofprev|> transcript` before the same prompt. Same position, same next-token "
        "task; only the source of the content differs. Baseline: a clip vs the other transcripts."
    )
    a0 = initial_values(LABEL, prefix="label.")
    with st.form("audio_a"):
        c1, c2, c3, c4 = st.columns(4)
        lang_a = c1.selectbox("Language", LANGS, index=LANGS.index(a0["lang_a"]), format_func=language_name,
                              key="aa_lang")
        n_a = number(c2, "Clips", LABEL.param("n"), a0["n"], "aa_n")
        boot_a = number(c3, "Bootstrap", LABEL.param("n_boot"), a0["n_boot"], "aa_boot", step=100)
        metric_a = c4.radio("Metric", ["raw", "centered"], index=1, key="aa_metric")
        go_a = st.form_submit_button("Run audio vs label", icon=":material/play_arrow:")
    if run_requested("audio_a", go_a):
        values = {**a0, "kind": "label", "lang_a": lang_a, "n": n_a, "n_boot": boot_a}
        sync_url(LABEL, values, prefix="label.")
        with user_errors():
            res = run_experiment(A.audio_similarity, spec, **run_kwargs(SIM, values))
        df = res.curves[res.curves.metric == metric_a].assign(series="hearing vs reading")
        chart = layer_lines(df, y="adjusted", series="series", band=("ci_low", "ci_high"),
                            y_title="matched − non-matching cosine", x_title="decoder layer (0 = embeddings)",
                            title="Decoder state after hearing a clip vs reading its transcript",
                            zero=("a clip's own transcript", "the other transcripts"))
        st.dataframe(df.drop(columns="series").round(3), hide_index=True, width="stretch")
        output_block(res.csv_frame(), chart, "audio_vs_label", SIM, values, spec,
                     caption="Above zero = a clip's state is closer to its own transcript's than to "
                             "the other transcripts' (band: 95% bootstrap CI over clips). "
                             + " ".join(res.notes))
        with st.expander(f"Clips ({len(res.items)})"):
            st.dataframe(res.items, hide_index=True, width="stretch")
    else:
        st.info("Press **Run audio vs label** (about 3 s per clip on two CPU cores).")

with tab_b:
    st.markdown(
        "The same Asterisk prompt spoken in two languages. **Encoder**: the mean over the frames "
        "that cover the speech (not the zero padding to 30 s). **Decoder**: the last prompt token, "
        "each clip with its own language token. Baseline: prompts with a different id. The "
        "English and Spanish prompts are read by the same speaker, the French ones by another: "
        "early encoder layers can match on voice and length, not meaning."
    )
    b0 = initial_values(CROSS, prefix="cross.")
    with st.form("audio_b"):
        c1, c2, c3, c4, c5 = st.columns(5)
        la = c1.selectbox("Language A", LANGS, index=LANGS.index(b0["lang_a"]), format_func=language_name,
                          key="ab_a")
        lb = c2.selectbox("Language B", LANGS, index=LANGS.index(b0["lang_b"]), format_func=language_name,
                          key="ab_b")
        n_b = number(c3, "Prompts", CROSS.param("n"), b0["n"], "ab_n")
        boot_b = number(c4, "Bootstrap", CROSS.param("n_boot"), b0["n_boot"], "ab_boot", step=100)
        metric_b = c5.radio("Metric", ["raw", "centered"], index=1, key="ab_metric")
        go_b = st.form_submit_button("Run cross-lingual speech", icon=":material/play_arrow:")
    if run_requested("audio_b", go_b):
        values = {**b0, "kind": "crosslingual", "lang_a": la, "lang_b": lb, "n": n_b, "n_boot": boot_b}
        sync_url(CROSS, values, prefix="cross.")
        with user_errors():
            res = run_experiment(A.audio_similarity, spec, **run_kwargs(SIM, values))
        df = res.curves[res.curves.metric == metric_b]
        chart = layer_lines(df, y="adjusted", series="stack", band=("ci_low", "ci_high"),
                            y_title="matched − non-matching cosine",
                            title=f"{language_name(la)} vs {language_name(lb)} speech, same prompt",
                            zero=("the same prompt", "other prompts"))
        st.dataframe(df.round(3), hide_index=True, width="stretch")
        output_block(res.csv_frame(), chart, "audio_crosslingual", SIM, values, spec,
                     caption="One line per stack (encoder, decoder); band: 95% bootstrap CI over "
                             "prompts. " + " ".join(res.notes))
        with st.expander(f"Prompts ({len(res.items)})"):
            st.dataframe(res.items, hide_index=True, width="stretch")
    else:
        st.info("Press **Run cross-lingual speech** (about 3 s per clip).")

with tab_c:
    st.markdown(
        "While Whisper transcribes Spanish or French speech (language token forced, its own "
        "greedy transcript teacher-forced), at the position before each word that has a one-word "
        "English translation, every decoder layer is read through the final norm and output "
        "projection: probability of the English word's first token vs the source word's."
    )
    c0 = initial_values(LENS, prefix="lens.")
    speech = list(LENS.param("lang").choices)
    with st.form("audio_c"):
        c1, c2, c3 = st.columns(3)
        lang_c = c1.selectbox("Speech", speech, index=speech.index(c0["lang"]), format_func=language_name,
                              key="ac_lang")
        n_c = number(c2, "Clips", LENS.param("n"), c0["n"], "ac_n")
        strict = c3.toggle("Translation must appear in the English prompt", not c0["any_translation"],
                           key="ac_strict")
        go_c = st.form_submit_button("Run lens", icon=":material/play_arrow:")
    if run_requested("audio_c", go_c):
        values = {**c0, "lang": lang_c, "n": n_c, "any_translation": not strict}
        sync_url(LENS, values, prefix="lens.")
        with user_errors():
            res = run_experiment(A.lens_translation, spec, **run_kwargs(LENS, values))
        chart = layer_lines(res.curves, y="mean_prob", series="target", band=("ci_low", "ci_high"),
                            y_title="lens probability", x_title="decoder layer (0 = embeddings)",
                            title="English translation vs source word, per decoder layer",
                            compare=("english", "source"))
        output_block(res.csv_frame(), chart, "audio_lens", LENS, values, spec,
                     caption="Mean lens probability over the word positions (band: 95% bootstrap CI "
                             "over clips). " + " ".join(res.notes))
        with st.expander(f"Positions read ({len(res.items)})"):
            st.dataframe(res.items, hide_index=True, width="stretch")
    else:
        st.info("Press **Run lens**.")

with tab_d:
    st.markdown(
        "Adds s × (W_U[new] − W_U[old]) to the output of one decoder block at the last prompt "
        "position and every generated one, while transcribing clips whose transcript contains "
        "the old word. Raw units: the difference vector's norm is about 0.26, decoder states' "
        "norms about 6–30 (one position reaches ~190)."
    )
    d0 = initial_values(STEER, prefix="steer.")
    with st.form("audio_d"):
        c1, c2, c3 = st.columns(3)
        old = c1.text_input("Old word (spoken)", d0["old"], key="ad_old")
        new = c2.text_input("New word", d0["new"], key="ad_new")
        layer = layer_slider(model, "ad_layer", label="Decoder layer", default=d0["layer"], low=1, container=c3)
        c4, c5, c6 = st.columns(3)
        top = c4.slider("Largest strength", 10, 200, int(max(d0["strengths"])), step=10, key="ad_top",
                        help="The sweep: 0, 1/8, 1/4, 1/2 and all of it.")
        n_d = number(c5, "Clips", STEER.param("n"), d0["n"], "ad_n")
        once = c6.toggle("Stop steering once the new word is written", bool(d0["once"]), key="ad_once",
                         help="Always-on steering repeats the word ('letter letter …').")
        go_d = st.form_submit_button("Run strength sweep", icon=":material/play_arrow:")
    if run_requested("audio_d", go_d):
        values = {**d0, "old": old, "new": new, "layer": layer, "strengths": A.strength_sweep(top),
                  "n": n_d, "once": bool(once)}
        sync_url(STEER, values, prefix="steer.")
        with user_errors():
            res = run_experiment(A.steer_word, spec, **run_kwargs(STEER, values))
        chart = layer_lines(res.rates, y="rate", series="outcome", band=("ci_low", "ci_high"),
                            x="strength", x_title="strength (raw units)",
                            y_title="share of clips", title=f"'{old}' → '{new}' at decoder layer {layer}",
                            baseline=("the share", "its unsteered value"))
        output_block(res.csv_frame("rates"), chart, "audio_steer", STEER, values, spec,
                     caption="new = the transcript contains the new word; old = it still contains the "
                             "old one; swap = it is the reference transcript with old replaced by new "
                             "and nothing else changed. Strong pushes give 'letter letter letter …': "
                             "new without swap. The export holds the rates; the command also writes "
                             "every transcript.")
        st.dataframe(res.generations[["item", "strength", "text", "has_new", "has_old", "swap"]],
                     hide_index=True, width="stretch")
    else:
        st.info("Press **Run strength sweep** (one batched decode per clip for all strengths).")
