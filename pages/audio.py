"""Audio page: Whisper hears a clip (recordings, event sounds, uploads, the microphone), and four
experiments on its encoder and decoder (paper §3.5, §3.6, §4, appendix C)."""

from dataclasses import replace

import streamlit as st

from app.charts import export_buttons, layer_lines
from app.widgets import current_spec, require_model, run_experiment, run_requested, user_errors
from hubcore.data.parallel import language_name
from hubcore.experiments.audio import (MAX_SECONDS, asterisk_clips, audio_vs_label, crosslingual_speech,
                                       freedesktop_sounds, lens_translation, steer_word, transcribe)

LANGS = ["en", "es", "fr"]

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

# ----------------------------------------------------------------------------- listen
st.subheader("Listen and transcribe")
kind = st.radio("Sound", ["Asterisk recording", "Freedesktop sound", "Upload", "Microphone"],
                horizontal=True, key="audio_kind")
audio, name, forced = None, None, None
with user_errors():
    if kind == "Asterisk recording":
        c1, c2 = st.columns([1, 3])
        lang = c1.selectbox("Language", LANGS, format_func=language_name, key="audio_lang")
        clips = {c.id: c for c in asterisk_clips(lang)}
        default = list(clips).index("conf-invalid") if "conf-invalid" in clips else 0
        pick = c2.selectbox("Prompt", list(clips), index=default, key="audio_clip",
                            format_func=lambda i: f"{i}: {clips[i].text[:70]}")
        audio, name = clips[pick].path, pick
        st.caption(f"Asterisk transcript: *{clips[pick].text}*")
    elif kind == "Freedesktop sound":
        sounds = freedesktop_sounds()
        if not sounds:
            st.info("The freedesktop sound theme is not installed (Debian sound-theme-freedesktop).")
        else:
            pick = st.selectbox("Event sound", list(sounds), key="audio_fd")
            audio, name = sounds[pick], pick
    elif kind == "Upload":
        up = st.file_uploader(f"WAV, FLAC or OGG, up to {MAX_SECONDS:.0f} s",
                              type=["wav", "flac", "ogg", "oga", "mp3"], key="audio_upload")
        if up is not None:
            audio, name = up.getvalue(), up.name
    else:
        rec = st.audio_input("Record a short clip", key="audio_mic")
        if rec is not None:
            audio, name = rec.getvalue(), "microphone"
    forced = st.selectbox("Language token", ["detect"] + LANGS + ["de", "it", "pt", "zh", "ja"],
                          key="audio_force", help="Force Whisper's language token, or let it detect.")
if audio is not None:
    st.audio(audio if isinstance(audio, bytes) else open(audio, "rb").read())
    with user_errors():
        df = run_experiment(transcribe, spec, audio=(audio,), names=(name,),
                        language=None if forced == "detect" else forced)
    row = df.iloc[0]
    st.success(f"**[{row.language}]** {row.text or '(nothing transcribed)'}")
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
    with st.form("audio_a"):
        c1, c2, c3, c4 = st.columns(4)
        lang_a = c1.selectbox("Language", LANGS, format_func=language_name, key="aa_lang")
        n_a = c2.number_input("Clips", 2, 200, 6, key="aa_n")
        boot_a = c3.number_input("Bootstrap", 0, 5000, 500, step=100, key="aa_boot")
        metric_a = c4.radio("Metric", ["raw", "centered"], index=1, key="aa_metric")
        go_a = st.form_submit_button("Run audio vs label", icon=":material/play_arrow:")
    if run_requested("audio_a", go_a):
        with user_errors():
            rep = run_experiment(audio_vs_label, spec, lang=lang_a, n=int(n_a), n_boot=int(boot_a))
        df = rep.curves[rep.curves.metric == metric_a].assign(series="hearing vs reading")
        chart = layer_lines(df, y="adjusted", series="series", band=("ci_low", "ci_high"),
                            y_title="matched − non-matching cosine", x_title="decoder layer (0 = embeddings)",
                            title="Decoder state after hearing a clip vs reading its transcript")
        st.altair_chart(chart, width="stretch")
        st.dataframe(df.drop(columns="series").round(3), hide_index=True, width="stretch")
        export_buttons(rep.curves, chart, "audio_vs_label")
        with st.expander(f"Clips ({len(rep.items)})"):
            st.dataframe(rep.items, hide_index=True, width="stretch")
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
    with st.form("audio_b"):
        c1, c2, c3, c4, c5 = st.columns(5)
        la = c1.selectbox("Language A", LANGS, index=1, format_func=language_name, key="ab_a")
        lb = c2.selectbox("Language B", LANGS, index=0, format_func=language_name, key="ab_b")
        n_b = c3.number_input("Prompts", 2, 200, 6, key="ab_n")
        boot_b = c4.number_input("Bootstrap", 0, 5000, 500, step=100, key="ab_boot")
        metric_b = c5.radio("Metric", ["raw", "centered"], index=1, key="ab_metric")
        go_b = st.form_submit_button("Run cross-lingual speech", icon=":material/play_arrow:")
    if run_requested("audio_b", go_b):
        with user_errors():
            rep = run_experiment(crosslingual_speech, spec, lang_a=la, lang_b=lb, n=int(n_b),
                             n_boot=int(boot_b))
        df = rep.curves[rep.curves.metric == metric_b]
        chart = layer_lines(df, y="adjusted", series="stack", band=("ci_low", "ci_high"),
                            y_title="matched − non-matching cosine",
                            title=f"{language_name(la)} vs {language_name(lb)} speech, same prompt")
        st.altair_chart(chart, width="stretch")
        st.dataframe(df.round(3), hide_index=True, width="stretch")
        export_buttons(rep.curves, chart, "audio_crosslingual")
        with st.expander(f"Prompts ({len(rep.items)})"):
            st.dataframe(rep.items, hide_index=True, width="stretch")
    else:
        st.info("Press **Run cross-lingual speech** (about 3 s per clip).")

with tab_c:
    st.markdown(
        "While Whisper transcribes Spanish or French speech (language token forced, its own "
        "greedy transcript teacher-forced), at the position before each word that has a one-word "
        "English translation, every decoder layer is read through the final norm and output "
        "projection: probability of the English word's first token vs the source word's."
    )
    with st.form("audio_c"):
        c1, c2, c3 = st.columns(3)
        lang_c = c1.selectbox("Speech", ["es", "fr"], format_func=language_name, key="ac_lang")
        n_c = c2.number_input("Clips", 1, 300, 12, key="ac_n")
        strict = c3.toggle("Translation must appear in the English prompt", True, key="ac_strict")
        go_c = st.form_submit_button("Run lens", icon=":material/play_arrow:")
    if run_requested("audio_c", go_c):
        with user_errors():
            rep = run_experiment(lens_translation, spec, lang=lang_c, n=int(n_c),
                             require_in_english=bool(strict))
        chart = layer_lines(rep.curves, y="mean_prob", series="target", band=("ci_low", "ci_high"),
                            y_title="lens probability", x_title="decoder layer (0 = embeddings)",
                            title="English translation vs source word, per decoder layer")
        st.altair_chart(chart, width="stretch")
        for note in rep.notes:
            st.info(note)
        export_buttons(rep.curves, chart, "audio_lens")
        with st.expander(f"Positions read ({len(rep.items)})"):
            st.dataframe(rep.items, hide_index=True, width="stretch")
    else:
        st.info("Press **Run lens**.")

with tab_d:
    st.markdown(
        "Adds s × (W_U[new] − W_U[old]) to the output of one decoder block at the last prompt "
        "position and every generated one, while transcribing clips whose transcript contains "
        "the old word. Raw units: the difference vector's norm is about 0.26, decoder states' "
        "norms about 6–30 (one position reaches ~190)."
    )
    with st.form("audio_d"):
        c1, c2, c3 = st.columns(3)
        old = c1.text_input("Old word (spoken)", "message", key="ad_old")
        new = c2.text_input("New word", "letter", key="ad_new")
        layer = c3.slider("Decoder layer", 1, model.n_decoder_layers, min(4, model.n_decoder_layers), key="ad_layer")
        c4, c5, c6 = st.columns(3)
        top = c4.slider("Largest strength", 10, 200, 80, step=10, key="ad_top")
        n_d = c5.number_input("Clips", 1, 100, 6, key="ad_n")
        once = c6.toggle("Stop steering once the new word is written", False, key="ad_once",
                         help="Always-on steering repeats the word ('letter letter …').")
        go_d = st.form_submit_button("Run strength sweep", icon=":material/play_arrow:")
    if run_requested("audio_d", go_d):
        strengths = tuple(round(top * f, 2) for f in (0.0, 0.125, 0.25, 0.5, 1.0))
        with user_errors():
            gens, rates = run_experiment(steer_word, spec, old=old, new=new, layer=int(layer),
                                     strengths=strengths, n=int(n_d), once=bool(once))
        chart = layer_lines(rates, y="rate", series="outcome", band=("ci_low", "ci_high"),
                            x="strength", x_title="strength (raw units)",
                            y_title="share of clips", title=f"'{old}' → '{new}' at decoder layer {layer}")
        st.altair_chart(chart, width="stretch")
        st.caption("new = the transcript contains the new word; old = it still contains the old "
                   "one; swap = it is the reference transcript with old replaced by new and nothing "
                   "else changed. Strong pushes give 'letter letter letter …': new without swap.")
        export_buttons(gens, chart, "audio_steer")
        st.dataframe(gens[["item", "strength", "text", "has_new", "has_old", "swap"]], hide_index=True, width="stretch")
    else:
        st.info("Press **Run strength sweep** (one batched decode per clip for all strengths).")
