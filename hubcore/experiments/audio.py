"""Audio experiments on Whisper (paper §3.5, §3.6, §4, appendix C), the same functions as the CLI.

- `transcribe`: greedy transcripts of clips (language given or detected).
- `audio_vs_label` (a): does the decoder hold the same state after *hearing* a clip as after
  *reading* its transcript? Compared position: the `<|notimestamps|>` token, the last prompt
  token, from which Whisper predicts the first word. Hearing: the clip in the encoder and the
  prompt `<|startoftranscript|><|lang|><|transcribe|><|notimestamps|>`. Reading: 30 s of
  silence in the encoder and the transcript as Whisper's previous-text prefix,
  `<|startofprev|> transcript <|startoftranscript|><|lang|><|transcribe|><|notimestamps|>`.
  Same position, same next-token task; only where the content comes from differs. Matched
  (clip i vs its transcript i) minus non-matching (clip i vs transcript j) per decoder layer.
- `crosslingual_speech` (b): the same Asterisk prompt spoken in two languages. Encoder: the mean
  over the frames that cover the speech (not the zero padding up to 30 s) per encoder layer;
  decoder: the last prompt token (each clip with its own language token) per decoder layer.
- `lens_translation` (c): while Whisper transcribes Spanish/French speech (language token forced,
  its own greedy transcript teacher-forced), at the position before each word that has a known
  English translation, the lens probability of the English word's first token vs the source
  word's first token, per decoder layer.
- `steer_word` (d): add s x (W_U[new] - W_U[old]) to one decoder block's output from the last
  prompt position on, while transcribing clips that contain `old`; outcome rates per strength.

Registered as `audio transcribe|similarity|lens|steer` (the Audio page runs the same entries);
(a) and (b) are one command, `audio similarity --kind label|crosslingual`. Every function returns
a `Result`; the CLI's defaults are the functions' own, the page opens on smaller samples.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
import pandas as pd

from ..audio import whisper as W
from ..audio.sounds import (MAX_SECONDS, SAMPLE_RATE, AudioSource, Clip, asterisk_clips,
                            freedesktop_sounds, load_audio, parallel_clips)
from ..data import parallel
from ..errors import InputError
from ..progress import Progress, report, scaled
from ..similarity import pair_similarity
from ..stats import bootstrap_ci
from .items_lens import layer_curves
from .multilingual import bootstrap_params
from .lens_param import LENS, logit_only
from .registry import Param, experiment, group
from .result import Result, Table, result

if TYPE_CHECKING:
    from ..models.speech import SpeechHandle

# The experiments, and the sound sources the Audio page offers (re-exported: pages import only
# experiments, data, errors and app helpers).
__all__ = [
    "LANGS", "MAX_SECONDS", "aligned_lexicon", "asterisk_clips", "audio_similarity", "audio_vs_label",
    "crosslingual_speech", "freedesktop_sounds", "lens_translation", "load_audio",
    "recording_of", "steer_word", "strength_sweep", "transcribe", "unembedding_difference",
]

BATCH = 4  # clips per encoder pass (each is a full 30 s window)
LANGS = ("en", "es", "fr")  # the languages the Asterisk prompts are recorded in
SIM_COLUMNS = ("stack", "layer", "metric", "matched", "baseline", "adjusted", "ci_low", "ci_high",
               "retrieval_at_1")
LENS_COLUMNS = ("layer", "target", "mean_prob", "ci_low", "ci_high", "mean_logprob", "n")
GEN_COLUMNS = ("item", "transcript", "strength", "text", "has_new", "has_old", "swap")
RATE_COLUMNS = ("layer", "strength", "outcome", "rate", "ci_low", "ci_high", "n")
STATS = bootstrap_params(seed_help="random seed (clip sample and bootstrap)")  # --bootstrap, --seed

group("audio", "Whisper: transcribe, similarity, lens, steering")


def _batches(n: int, size: int = BATCH) -> list[range]:
    return [range(i, min(n, i + size)) for i in range(0, n, size)]


def _encode_all(model: "SpeechHandle", clips: Sequence[np.ndarray], progress: Optional[Progress],
                what: str) -> list[W.Heard]:
    """One `Heard` clip each (encoded `BATCH` at a time; the encoder output is kept on local
    runs only, a remote run re-encodes inside each later trace)."""
    outs: list[W.Heard] = []
    parts = _batches(len(clips))
    for k, idx in enumerate(parts):
        enc = W.encode(model, W.features(model, [clips[i] for i in idx]))
        outs.extend(enc[j:j + 1] for j in range(len(enc)))
        report(progress, (k + 1) / len(parts), f"{what}: encoded {len(outs)}/{len(clips)} clips")
    return outs


# ----------------------------------------------------------------------------- transcription


def _transcribe_inputs(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Decode every file before the model loads, so a bad file costs no model load."""
    for path in values["audio"]:
        load_audio(path)
    return {"audio": list(values["audio"]), "language": values.get("language")}, []


def _print_transcripts(res: Result) -> list[str]:
    """The transcripts are the command's output: stdout (pipe-able), the item and language in
    front only when there are several; nothing extra for stderr."""
    df = res.transcripts
    for row in df.itertuples():
        print((f"{row.item}\t[{row.language}]\t" if len(df) > 1 else "") + row.text, file=sys.stdout)
    return []


def recording_of(audio: Any) -> Optional[Clip]:
    """The built-in Asterisk recording at path `audio` (its language is known: the page passes it
    instead of detecting, which mistakes short Spanish prompts for Portuguese); None otherwise."""
    if not isinstance(audio, (str, Path)):
        return None
    for lang in LANGS:
        try:
            found = next((c for c in asterisk_clips(lang) if c.path == str(audio)), None)
        except InputError:  # that language's recordings are not installed
            continue
        if found is not None:
            return found
    return None


@experiment(
    name="audio transcribe",
    summary="greedy Whisper transcript of audio files",
    description="Greedy transcript of each WAV/FLAC/OGG file (<= 30 s), printed; with --out also "
                "the columns item,language,text.",
    page="audio",
    kind="speech",
    tables=(Table("transcripts", ("item", "language", "text"), "one transcript per clip"),),
    params=(Param("audio", "audio files (WAV, FLAC, OGG; at most 30 s each)", many="nargs", required=True,
                  metavar="FILE"),
            Param("language", "force a language code (default: detected)")),
    prepare=_transcribe_inputs,
    report=_print_transcripts,
)
def transcribe(
    model: "SpeechHandle",
    audio: Sequence[AudioSource],
    names: Optional[Sequence[str]] = None,
    language: Optional[str] = None,
    max_new_tokens: int = 128,
    progress: Optional[Progress] = None,
) -> Result:
    """Greedy transcript of each clip (bytes or paths): table `transcripts` = `item,language,text`.

    `language` forces the language token; otherwise Whisper's own language identification picks it.
    """
    W.require_whisper(model)
    if not audio:
        raise InputError("Give at least one audio clip to transcribe.")
    names = list(names) if names is not None else [
        str(a) if not isinstance(a, (bytes, bytearray)) else f"clip {i + 1}" for i, a in enumerate(audio)]
    clips = [load_audio(a) for a in audio]
    if language is not None:
        W.prompt_ids(model, language)  # validates the code before any heavy work
    rows = []
    parts = _batches(len(clips))
    for k, idx in enumerate(parts):
        enc = W.encode(model, W.features(model, [clips[i] for i in idx]))
        langs = [language] * len(idx) if language else W.detect_language(model, enc)
        ids = W.greedy_decode(model, enc, [W.prompt_ids(model, lang) for lang in langs],
                              max_new_tokens=max_new_tokens)
        for i, lang, out in zip(idx, langs, ids):
            rows.append((names[i], lang, W.decode_text(model, out)))
        report(progress, (k + 1) / len(parts), f"Transcribed {len(rows)}/{len(clips)} clips")
    return result("audio transcribe", {"transcripts": pd.DataFrame(rows, columns=["item", "language", "text"])})


# ----------------------------------------------------------------------------- (a) audio vs label


def _last_prompt_states(model: "SpeechHandle", enc: W.Heard, prompts: Sequence[Sequence[int]]) -> Any:
    """Decoder states `[B, n_dec + 1, d]` at each prompt's last token (prompts right-padded)."""
    import torch

    cap = W.capture(model, enc, prompts)
    last = torch.tensor([n - 1 for n in cap.lengths])
    return cap.decoder[torch.arange(len(prompts)), last]


def audio_vs_label(
    model: "SpeechHandle",
    lang: str = "en",
    n: int = 8,
    seed: int = 0,
    n_boot: int = 500,
    min_words: int = 1,
    progress: Optional[Progress] = None,
) -> Result:
    """(a) Decoder state after hearing a clip vs after reading its transcript, per decoder layer.

    See the module docstring for the exact positions. Tables: `curves` = `layer,metric,matched,
    baseline,adjusted,ci_low,ci_high,retrieval_at_1` (layers 0..n_dec of the decoder) and `items`
    = `id,transcript,path`.
    """
    import torch

    W.require_whisper(model)
    if n < 2:
        raise InputError("Pick at least two clips: the baseline is the non-matching pairs.")
    clips = [c[lang] for c in parallel_clips((lang,), n=n, seed=seed, min_words=min_words)]
    if len(clips) < 2:
        raise InputError(f"Found fewer than two {parallel.language_name(lang)} recordings.")
    audio = [c.audio() for c in clips]
    encs = _encode_all(model, audio, scaled(progress, 0.0, 0.7), "Hearing")
    prompt = W.prompt_ids(model, lang)
    heard = []
    for idx in _batches(len(clips)):
        enc = W.Heard.cat([encs[i] for i in idx])
        heard.append(_last_prompt_states(model, enc, [prompt] * len(idx)))
    report(progress, 0.75, "Reading the transcripts (silent audio)")
    silent = W.encode(model, W.features(model, [np.zeros(SAMPLE_RATE, dtype=np.float32)]))
    read = []
    for idx in _batches(len(clips), 8):
        prompts = [W.prompt_ids(model, lang, prefix=clips[i].text) for i in idx]
        read.append(_last_prompt_states(model, silent.expand(len(idx)), prompts))
    a, b = torch.cat(heard), torch.cat(read)
    report(progress, 0.95, "Similarity and bootstrap")
    curves = pair_similarity(a, b, n_boot=n_boot, seed=seed)
    items = pd.DataFrame([(c.id, c.text, c.path) for c in clips], columns=["id", "transcript", "path"])
    notes = [
        "Compared position: <|notimestamps|>, the last prompt token (it predicts the first word). "
        "Hearing = the clip in the encoder + <|startoftranscript|><|" + lang + "|><|transcribe|>"
        "<|notimestamps|>; reading = 30 s of silence in the encoder + <|startofprev|> transcript "
        "before the same prompt. Baseline = clip i vs the transcripts of the other clips."
    ]
    report(progress, 1.0, "Done")
    return result("audio similarity", {"curves": curves, "items": items}, notes, kind="label", lang=lang)


# ----------------------------------------------------------------------------- (b) cross-lingual speech


def crosslingual_speech(
    model: "SpeechHandle",
    lang_a: str = "es",
    lang_b: str = "en",
    n: int = 8,
    seed: int = 0,
    n_boot: int = 500,
    min_words: int = 2,
    progress: Optional[Progress] = None,
) -> Result:
    """(b) The same prompt spoken in two languages, per encoder and decoder layer.

    Tables: `curves` = `stack,layer,metric,matched,baseline,adjusted,ci_low,ci_high,
    retrieval_at_1` and `items` = `id,<lang_a>,<lang_b>` (the two transcripts).
    """
    import torch

    W.require_whisper(model)
    if lang_a == lang_b:
        raise InputError("Pick two different languages.")
    if n < 2:
        raise InputError("Pick at least two prompts: the baseline is the non-matching pairs.")
    groups = parallel_clips((lang_a, lang_b), n=n, seed=seed, min_words=min_words)
    if len(groups) < 2:
        raise InputError("Found fewer than two prompts recorded in both languages.")
    states: dict[str, dict[str, list[Any]]] = {lang: {"encoder": [], "decoder": []} for lang in (lang_a, lang_b)}
    total = 2 * len(groups)
    done = 0
    for lang in (lang_a, lang_b):
        clips = [g[lang] for g in groups]
        for idx in _batches(len(clips)):
            audio = [clips[i].audio() for i in idx]
            cap = W.capture(model, W.features(model, audio), [W.prompt_ids(model, lang)] * len(idx),
                            encoder=True, decoder=True,
                            frames=[W.speech_frames(model, a) for a in audio])  # mean inside the trace
            for j in range(len(idx)):
                states[lang]["encoder"].append(cap.encoder[j])
                states[lang]["decoder"].append(cap.decoder[j, -1])
            del cap
            done += len(idx)
            report(progress, 0.95 * done / total, f"Captured {done}/{total} clips")
    frames = []
    for stack in ("encoder", "decoder"):
        a = torch.stack(states[lang_a][stack])
        b = torch.stack(states[lang_b][stack])
        df = pair_similarity(a, b, n_boot=n_boot, seed=seed)
        df.insert(0, "stack", stack)
        frames.append(df)
    items = pd.DataFrame([(g[lang_a].id, g[lang_a].text, g[lang_b].text) for g in groups],
                         columns=["id", lang_a, lang_b])
    notes = [
        "Encoder: mean over the frames covering the speech (not the zero padding to 30 s). "
        "Decoder: the last prompt token <|notimestamps|>, each clip with its own language token. "
        "Baseline: prompts with a different id."
    ]
    report(progress, 1.0, "Done")
    return result("audio similarity", {"curves": pd.concat(frames, ignore_index=True), "items": items},
                  notes, kind="crosslingual", lang=lang_a, lang_b=lang_b)


KINDS = ("label", "crosslingual")


@experiment(
    name="audio similarity",
    summary="(a) audio vs transcript, (b) the same prompt in two languages",
    description="(a) --kind label: decoder state after hearing a clip vs after reading its "
                "transcript; (b) --kind crosslingual: the same prompt spoken in two languages, per "
                "encoder and decoder layer. Writes layer,metric,matched,baseline,adjusted,ci_low,"
                "ci_high,retrieval_at_1 (plus stack=encoder|decoder first for --kind crosslingual).",
    page="audio",
    kind="speech",
    tables=(Table("curves", SIM_COLUMNS, "matched - non-matching similarity per layer", optional=("stack",)),
            Table("items", ("id",), "the clips (label: transcript, path; crosslingual: both transcripts)",
                  open=True)),
    params=(Param("kind", "label = hearing vs reading; crosslingual = two languages", choices=KINDS),
            Param("lang_a", "language of the clips (label) or the first language", choices=LANGS),
            Param("lang_b", "the second language (crosslingual)", choices=LANGS),
            Param("n", "prompt ids", type=int, low=2, high=500),
            *STATS),
)
def audio_similarity(
    model: "SpeechHandle",
    kind: str = "crosslingual",
    lang_a: str = "es",
    lang_b: str = "en",
    n: int = 24,
    seed: int = 0,
    n_boot: int = 1000,
    progress: Optional[Progress] = None,
) -> Result:
    """One command for (a) and (b): `kind="label"` runs `audio_vs_label` on `lang_a` clips,
    `kind="crosslingual"` runs `crosslingual_speech` on `lang_a` vs `lang_b`."""
    if kind == "label":
        return audio_vs_label(model, lang=lang_a, n=n, seed=seed, n_boot=n_boot, progress=progress)
    if kind == "crosslingual":
        return crosslingual_speech(model, lang_a=lang_a, lang_b=lang_b, n=n, seed=seed, n_boot=n_boot,
                                   progress=progress)
    raise InputError(f"Unknown kind '{kind}': use {' or '.join(KINDS)}.")


# ----------------------------------------------------------------------------- (c) lens


def _fold(word: str) -> str:
    """Lower case without accents (the Asterisk Spanish transcripts are written without them)."""
    return "".join(ch for ch in unicodedata.normalize("NFD", word.lower()) if unicodedata.category(ch) != "Mn")


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", text)


_EN_FUNCTION = {"the", "a", "an", "to", "of", "for", "and", "or", "is", "are", "be", "your", "you",
                "this", "that", "in", "on", "at", "by", "it", "please", "not", "has", "have", "been"}


def aligned_lexicon(lang: str, min_count: int = 2, min_dice: float = 0.5) -> dict[str, str]:
    """Source word -> English word, aligned from the parallel Asterisk prompts (same ids).

    For every (source word, English word) pair, Dice = 2 c(s, e) / (c(s) + c(e)) over prompt
    ids, where c counts prompts containing the word(s); each source word takes its best English
    word by competitive linking (highest Dice first, each word linked once; pairs seen in >=
    `min_count` prompts with Dice >= `min_dice`). English function words are left out. Telephony words ("conferencia" -> "conference", "buzon" -> "mailbox") are what
    the recordings say, which the emoji-label lexicon rarely covers.
    """
    from collections import Counter

    src = {k: parallel.clean_prompt(v) for k, v in parallel.load_asterisk(lang).items()}
    eng = {k: parallel.clean_prompt(v) for k, v in parallel.load_asterisk("en").items()}
    c_s: Counter = Counter()
    c_e: Counter = Counter()
    c_se: Counter = Counter()
    for key in set(src) & set(eng):
        ws = {_fold(w) for w in _words(src[key]) if len(w) > 2}
        we = {_fold(w) for w in _words(eng[key]) if len(w) > 2 and _fold(w) not in _EN_FUNCTION}
        c_s.update(ws)
        c_e.update(we)
        c_se.update((a, b) for a in ws for b in we)
    scored = sorted(((2 * n / (c_s[a] + c_e[b]), n, a, b) for (a, b), n in c_se.items()
                     if n >= min_count), reverse=True)
    out: dict[str, str] = {}
    used: set[str] = set()
    for dice, _, a, b in scored:  # competitive linking: each word is linked at most once
        if dice < min_dice:
            break
        if a not in out and b not in used and a != b:
            out[a] = b
            used.add(b)
    return out


def _first_token(model: "SpeechHandle", text: str) -> int:
    return int(model.tokenizer(text, add_special_tokens=False)["input_ids"][0])


def _lens_inputs(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`--any-translation` is the CLI's spelling of `require_in_english=False`."""
    kwargs = {k: v for k, v in values.items() if k != "any_translation"}
    kwargs["require_in_english"] = not values.get("any_translation")
    return kwargs, []


@experiment(
    name="audio lens",
    summary="(c) English vs source word through the lens while transcribing",
    description="While Whisper transcribes Spanish/French speech, the lens probability of the "
                "English translation's first token vs the source word's, per decoder layer. Writes "
                "layer,target,mean_prob,ci_low,ci_high,mean_logprob,n (target in {english, source}).",
    page="audio",
    kind="speech",
    tables=(Table("curves", LENS_COLUMNS, "lens probability of the English vs the source word per layer"),
            Table("items", ("id", "transcript", "position", "word", "english", "source_token",
                            "english_token", "top1_by_layer"), "every position read")),
    params=(Param("lang", "language of the speech", choices=("es", "fr")),
            Param("n", "clips", type=int, low=1, high=500),
            *STATS,
            Param("any_translation", "count a lexicon translation even when the English prompt of the "
                                     "same id does not contain it", switch=True, arg=""),
            LENS),
    prepare=_lens_inputs,
)
def lens_translation(
    model: "SpeechHandle",
    lang: str = "es",
    n: int = 30,
    seed: int = 0,
    n_boot: int = 1000,
    require_in_english: bool = True,
    progress: Optional[Progress] = None,
    lens: str = "logit",
) -> Result:
    """(c) Does Whisper 'think in English' while transcribing `lang` speech?

    Tables: `curves` = `layer,target,mean_prob,ci_low,ci_high,mean_logprob,n` with target in
    {english, source} (CIs resample clips; the shared items-lens summary) and `items`, every
    position read (clip, word, English word, both tokens, the top-1 lens token per layer). With
    `require_in_english`, a lexicon translation counts only if the English transcript of the same
    prompt id contains it.
    """
    logit_only(lens, "The audio lens", "`tune-lens` trains translators for text models only (Whisper's "
               "decoder has none), and the patchscope's identity prompt needs a text model")
    import torch

    W.require_whisper(model)
    if lang not in ("es", "fr"):
        raise InputError("The lens experiment reads Spanish (es) or French (fr) speech.")
    lexicon = {_fold(k): v for k, v in parallel.bilingual_lexicon(lang, "en").items()}
    lexicon.update(aligned_lexicon(lang))  # prompt-aligned telephony words take precedence
    groups = parallel_clips((lang, "en"), n=n, seed=seed, min_words=2)
    if not groups:
        raise InputError("No prompts recorded in both languages.")
    clips = [g[lang] for g in groups]
    encs = _encode_all(model, [c.audio() for c in clips], scaled(progress, 0.0, 0.5), "Encoding")
    prompt = W.prompt_ids(model, lang)
    rows_pos: list[tuple] = []
    probs: list[Any] = []  # [n_layers, 2] per position
    groups_of: list[int] = []
    for k, (g, enc) in enumerate(zip(groups, encs)):
        out = W.greedy_decode(model, enc, [prompt], max_new_tokens=96)[0]
        text = W.decode_text(model, out)
        english = {_fold(w) for w in _words(g["en"].text)}
        seq = prompt + out
        targets = []  # (position, source id, english id, word, english word)
        # walk the generated tokens, recording where each word starts
        pieces = [model.tokenizer.decode([t]) for t in out]
        for ti, piece in enumerate(pieces):
            if not piece.strip() or not (piece.startswith(" ") or ti == 0):
                continue
            word = _words(piece.strip() + "".join(pieces[ti + 1:ti + 4]))
            if not word:
                continue
            w = word[0]
            en = lexicon.get(_fold(w))
            if en is None or (require_in_english and _fold(en) not in english):
                continue
            surface = (" " if piece.startswith(" ") else "") + (en.capitalize() if w[0].isupper() else en)
            en_id = _first_token(model, surface)
            if en_id == out[ti]:
                continue  # the same token cannot tell the languages apart
            targets.append((len(prompt) - 1 + ti, out[ti], en_id, w, en))
        if targets:
            n_t = len(targets)
            # the lens of every decoder layer at these positions, reduced inside the trace
            top_ids, _, lp = W.lens_positions(model, enc, seq, [t[0] for t in targets],
                                              [t[2] for t in targets] + [t[1] for t in targets])
            for j, (p, src, en_id, w, en) in enumerate(targets):
                probs.append(torch.stack([lp[:, j, j], lp[:, j, n_t + j]], dim=1).exp().numpy())
                groups_of.append(k)
                top = top_ids[:, j, 0].tolist()  # top-1 lens token per layer
                rows_pos.append((g[lang].id, text, int(p), w, en, model.tokenizer.decode([src]),
                                 model.tokenizer.decode([en_id]),
                                 " | ".join(repr(model.tokenizer.decode([t])) for t in top)))
        report(progress, 0.5 + 0.45 * (k + 1) / len(groups), f"Lens over {k + 1}/{len(groups)} transcripts")
    if not probs:
        raise InputError("No word in these transcripts has a known English translation: use more clips.")
    arr = np.stack(probs)  # [P, L+1, 2]
    layers = range(arr.shape[1])
    values = {"english": arr[:, :, 0], "source": arr[:, :, 1]}
    curves = layer_curves(values, groups_of, layers, n_boot, seed, value="mean_prob")
    logs = layer_curves({k: np.log(np.clip(v, 1e-30, None)) for k, v in values.items()}, groups_of,
                        layers, 0, seed, value="mean_logprob")
    curves.insert(5, "mean_logprob", logs["mean_logprob"])
    items = pd.DataFrame(rows_pos, columns=["id", "transcript", "position", "word", "english",
                                            "source_token", "english_token", "top1_by_layer"])
    notes = [
        f"{len(probs)} word positions in {len(set(groups_of))} of {len(groups)} "
        f"{parallel.language_name(lang)} clips: the decoder position just before each word with "
        "a one-word English translation (aligned from the parallel prompts, else the bilingual lexicon"
        + (", kept only if the English prompt of the same id contains it" if require_in_english else "")
        + "). The language token is forced and Whisper's own greedy transcript is teacher-forced."
    ]
    report(progress, 1.0, "Done")
    return result("audio lens", {"curves": curves, "items": items}, notes)


# ----------------------------------------------------------------------------- (d) steering


def unembedding_difference(model: "SpeechHandle", new: str, old: str) -> tuple[Any, int, int]:
    """W_U[new] - W_U[old] for the first tokens of ' new' and ' old' (leading space: mid-sentence)."""
    new_id = _first_token(model, " " + new.strip())
    old_id = _first_token(model, " " + old.strip())
    if new_id == old_id:
        raise InputError(f"'{new}' and '{old}' start with the same token; pick words that differ.")
    rows = W.head_rows(model, [new_id, old_id])
    return (rows[0] - rows[1]).clone(), new_id, old_id


def _contains(text: str, word: str) -> bool:
    return re.search(rf"\b{re.escape(_fold(word.strip()))}", _fold(text)) is not None


def _norm_words(text: str) -> list[str]:
    return [_fold(w) for w in _words(text)]


def _is_swap(text: str, reference: str, old: str, new: str) -> bool:
    """True when `text` is the reference transcript with `old` replaced by `new`, nothing else.

    Words are compared case-, accent- and punctuation-blind; "messages" -> "letters" counts.
    """
    target = re.sub(rf"\b{re.escape(_fold(old.strip()))}", _fold(new.strip()), " ".join(_norm_words(reference)))
    return _norm_words(text) == target.split()


STRENGTH_STEPS = (0.0, 0.125, 0.25, 0.5, 1.0)


def strength_sweep(largest: float) -> list[float]:
    """The page's sweep up to `largest`: 0, 1/8, 1/4, 1/2 and all of it (the CLI default is this
    sweep for 80)."""
    return [round(largest * f, 2) for f in STRENGTH_STEPS]


@experiment(
    name="audio steer",
    summary="(d) steer a spoken word with W_U[new] - W_U[old] at a decoder layer",
    description="Adds s x (W_U[new] - W_U[old]) to one decoder block's output while transcribing "
                "clips that say the old word. Writes item,transcript,strength,text,has_new,has_old,"
                "swap; rates to <out>_rates.csv (layer,strength,outcome,rate,ci_low,ci_high,n), "
                "outcome in {new, old, swap}.",
    page="audio",
    kind="speech",
    tables=(Table("generations", GEN_COLUMNS, "one transcript per clip and strength"),
            Table("rates", RATE_COLUMNS, "share of clips per strength and outcome, with 95% CIs")),
    params=(Param("old", "the spoken word"),
            Param("new", "the word to steer towards"),
            Param("layer", "decoder block 1..L", type=int, low=1, high=1000),
            Param("strengths", "strengths in raw units (|W_U[new]-W_U[old]| is about 0.26, decoder "
                               "states 6-30)", type=float, many="comma", metavar="S,S,..."),
            Param("lang", "language of the clips", choices=LANGS),
            Param("n", "clips", type=int, low=1, high=500),
            *STATS,
            Param("once", "stop steering a clip once it has written the new word", switch=True)),
)
def steer_word(
    model: "SpeechHandle",
    old: str = "message",
    new: str = "letter",
    layer: int = 4,
    strengths: Sequence[float] = (0.0, 10.0, 20.0, 40.0, 80.0),
    lang: str = "en",
    n: int = 10,
    seed: int = 0,
    n_boot: int = 1000,
    once: bool = False,
    progress: Optional[Progress] = None,
) -> Result:
    """(d) Steer transcripts of clips that say `old` towards `new`: tables generations, rates.

    The vector W_U[new] - W_U[old] (strength s, raw units) is added to the output of decoder
    block `layer` at the last prompt position and every generated position. Generations:
    `item,transcript,strength,text,has_new,has_old,swap`; rates: `layer,strength,outcome,rate,
    ci_low,ci_high,n` with outcome in {new, old, swap}: the share of clips whose transcript
    contains the new word / still contains the old one / is exactly the reference transcript
    with old replaced by new (a clean swap, not "letter letter letter ...").
    `once`: a clip stops being steered after it has written the new word's first token (the
    always-on push otherwise repeats the word until the token limit). The default layer 4 (of
    Whisper base's 6) is where docs/audio.md measured the swap.
    """
    W.require_whisper(model)
    n_dec = model.n_decoder_layers
    if not 1 <= layer <= n_dec:
        raise InputError(f"Pick a decoder layer from 1 to {n_dec}.")
    if not strengths:
        raise InputError("Give at least one strength.")
    vec, new_id, _ = unembedding_difference(model, new, old)
    clips = [c for c in asterisk_clips(lang) if _contains(c.text, old) and len(c.text.split()) <= 25]
    if not clips:
        raise InputError(f"No {parallel.language_name(lang)} recording's transcript contains '{old}'.")
    if n < len(clips):
        rng = np.random.default_rng(seed)
        clips = [clips[i] for i in sorted(rng.choice(len(clips), n, replace=False))]
    prompt = W.prompt_ids(model, lang)
    steer = W.Steer(layer=layer, vector=vec, strengths=[float(s) for s in strengths],
                    stop_token=new_id if once else None)
    rows = []
    parts = _batches(len(clips), 2)
    for k, idx in enumerate(parts):
        audio = [clips[i].audio() for i in idx]
        enc = W.encode(model, W.features(model, audio))
        out = W.greedy_decode(model, enc, [prompt] * len(idx), max_new_tokens=80, steer=steer)
        for r, ids in enumerate(out):
            c = clips[idx[r // len(strengths)]]
            s = float(strengths[r % len(strengths)])
            text = W.decode_text(model, ids)
            rows.append((c.id, c.text, s, text, _contains(text, new), _contains(text, old),
                         _is_swap(text, c.text, old, new)))
        report(progress, (k + 1) / len(parts), f"Steered {min(len(clips), (k + 1) * 2)}/{len(clips)} clips")
    gens = pd.DataFrame(rows, columns=list(GEN_COLUMNS))
    rate_rows = []
    for s, grp in gens.groupby("strength", sort=True):
        for outcome, col in (("new", "has_new"), ("old", "has_old"), ("swap", "swap")):
            mean, lo, hi = bootstrap_ci(grp[col].to_numpy(float), np.arange(len(grp)), n_boot=n_boot, seed=seed)
            rate_rows.append((layer, float(s), outcome, float(mean[0]), float(lo[0]), float(hi[0]), len(grp)))
    rates = pd.DataFrame(rate_rows, columns=list(RATE_COLUMNS))
    return result("audio steer", {"generations": gens, "rates": rates})
