"""Latent language per layer (Wendler et al., ACL 2024, "Do Llamas Work in English?"): on
prompts whose answer is one single-token word in a target language, read p(the English word)
and p(the target-language word) at the last position through a lens, per layer, with 95% CIs.

Three tasks, all few-shot with single-token words (`translation_prompts`):
- translation: `Français: "fleur" - 中文: "` (answer 花, English "flower"),
- repetition: `中文: "花" - 中文: "` (the same word back),
- cloze: a sentence in the target language with one word blanked, `我喜欢___。 答案: "` —
  Chinese sentences from HSK (words with English glosses confirmed by the sentence translation),
  Spanish and French from the Asterisk prompts, through the bundled single-word lexicons.

Wendler et al. find three phases: an input phase (neither word likely), a concept phase where
the English word leads although English appears nowhere, and an output phase where the target
word takes over. `phases` labels layers from the CIs: "input" (both below 1% from layer 0 on),
"English" (English CI above the target's), "target" (the target's CI above English). The lens is
a parameter: the logit lens (the paper's), the tuned lens or the patchscope.
"""

from __future__ import annotations

import random
import re
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import pandas as pd

from ..data.parallel import ASTERISK_LANGS, bilingual_lexicon, clean_prompt, hsk_sentences, load_asterisk
from ..data.word_concepts import native_name
from ..errors import InputError
from ..lens import lens_at
from ..progress import Progress, report, scaled
from ..tokens import encode
from .items_lens import layer_curves
from .lens_param import LENS, PATCHSCOPE_LAYER, checked_lens
from .registry import Param, experiment
from .result import Result, Table, result
from .translation_prompts import (FEW_SHOT, disjoint, outcome_ids, outcome_probs, padded, pick, single_token,
                                  split_concepts, translation_prompt)

if TYPE_CHECKING:
    from ..models.handle import Handle

TASKS = ("translation", "repetition", "cloze")
CURVE_COLUMNS = ("layer", "language", "prob", "ci_low", "ci_high", "n")
PHASE_COLUMNS = ("phase", "first_layer", "last_layer")
ITEM_COLUMNS = ("item", "prompt_end", "answer", "english")
PHASE_FLOOR = 0.01  # below this both words count as "not yet there" (the input phase)
CLOZE_LANGS = ("zh", *ASTERISK_LANGS)
ANSWER = {"zh": "答案", "es": "Respuesta", "fr": "Réponse", "en": "Answer"}
CLOZE_SHOT = 3
BLANK = "___"


def check_cloze(lang: str) -> None:
    if lang not in CLOZE_LANGS or lang == "en":
        raise InputError(f"Cloze sentences ship for {', '.join(x for x in CLOZE_LANGS if x != 'en')} only "
                         "(HSK for Chinese, the Asterisk prompts for Spanish and French).")


def cloze_items(model: "Handle", lang: str) -> list[tuple[str, str, str]]:
    """(sentence with one word blanked, the word, its English translation) for `lang`: words in
    the single-word lexicon whose word and translation are single tokens, one per sentence."""
    check_cloze(lang)
    tok = model.tokenizer
    lexicon = bilingual_lexicon(lang, "en")
    if lang == "zh":
        sentences = [(str(s.get("chinese") or ""), [str(t.get("word") or "") for t in s.get("tokens") or []])
                     for s in hsk_sentences()]
    else:
        sentences = []
        for text in load_asterisk(lang).values():
            text = clean_prompt(text)
            words = re.findall(r"[^\W\d_]+", text)
            if len(words) >= 4:
                sentences.append((text, words))
    out, seen = [], set()
    for sentence, words in sentences:
        for word in words:
            key = word.lower() if lang != "zh" else word
            english = lexicon.get(key)
            if not english or key in seen or sentence.count(word) != 1:
                continue
            if not (single_token(tok, key) and single_token(tok, english)):
                continue
            if not disjoint([outcome_ids(tok, key), outcome_ids(tok, english)]):
                continue
            out.append((sentence.replace(word, BLANK, 1), key, english))
            seen.add(key)
            break
    if len(out) < CLOZE_SHOT + 2:
        raise InputError(f"Too few cloze sentences with single-token words in {lang} for this model.")
    return out


def build_items(model: "Handle", task: str, lang: str, input_lang: str, seed: int) -> list[tuple[str, str, str]]:
    """(prompt, answer word, English word) per item of `task`."""
    if task == "cloze":
        items = cloze_items(model, lang)
        order = list(range(len(items)))
        random.Random(seed).shuffle(order)
        shots = [items[i] for i in order[:CLOZE_SHOT]]
        head = [f'{s} {ANSWER[lang]}: "{w}"' for s, w, _ in shots]
        return [("\n".join(head + [f'{s} {ANSWER[lang]}: "']), w, e) for s, w, e in (items[i] for i in order[CLOZE_SHOT:])]
    src = input_lang if task == "translation" else lang
    langs = ["en", lang] + ([src] if src not in ("en", lang) else [])
    split = split_concepts(model, langs, seed, single=["en", lang])  # the words read
    examples = split.example_pairs(src, lang)
    tok = model.tokenizer
    out = []
    for x in split.items:
        answer, english = split.word(x, lang), split.word(x, "en")
        if not disjoint([outcome_ids(tok, answer), outcome_ids(tok, english)]):
            continue
        out.append((translation_prompt(examples, src, lang, split.word(x, src)), answer, english))
    return out


def phase_spans(curves: pd.DataFrame, lang: str, floor: float = PHASE_FLOOR) -> pd.DataFrame:
    """Contiguous layer spans labelled input / English / target from the per-layer CIs."""
    en = curves[curves["language"] == "en"].set_index("layer").sort_index()
    tg = curves[curves["language"] == lang].set_index("layer").sort_index()
    labels: list[str] = []
    still_input = True
    for layer in en.index:
        if still_input and en.loc[layer, "prob"] < floor and tg.loc[layer, "prob"] < floor:
            labels.append("input")
            continue
        still_input = False
        if en.loc[layer, "ci_low"] > tg.loc[layer, "ci_high"]:
            labels.append("English")
        elif tg.loc[layer, "ci_low"] > en.loc[layer, "ci_high"]:
            labels.append("target")
        else:
            labels.append("")
    rows = []
    for layer, label in zip(en.index, labels):
        if not label:
            continue
        if rows and rows[-1][0] == label and rows[-1][2] == layer - 1:
            rows[-1][2] = int(layer)
        else:
            rows.append([label, int(layer), int(layer)])
    return pd.DataFrame(rows, columns=list(PHASE_COLUMNS))


def _inputs(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    task = str(values.get("task") or "translation")
    lang = str(values.get("lang") or "zh")
    native_name(lang)
    if lang == "en":
        raise InputError("Pick a target language other than English: the experiment compares the two.")
    if task == "translation":
        src = str(values.get("input_lang") or "fr")
        native_name(src)
        if src in ("en", lang):
            raise InputError("The translation's input language must differ from English and the target language.")
    if task == "cloze":
        check_cloze(lang)
    kwargs = {k: v for k, v in values.items()}
    kwargs["lens"] = checked_lens(values.get("lens") or "logit")
    return kwargs, []


@experiment(
    name="latent-language",
    summary="p(English word) vs p(target-language word) per layer (Wendler et al.)",
    description="On translation, repetition or cloze prompts whose answer is one single-token word in "
                "--lang: the lens probability of that word and of its English translation at the last "
                "position, per layer, 95% CI over prompts, with input / English / target phases. Writes "
                "layer,language,prob,ci_low,ci_high,n; the phases go to <out>_phases.csv.",
    page="concept_language",
    tables=(Table("curves", CURVE_COLUMNS, "p(word) per layer for English and the target language"),
            Table("phases", PHASE_COLUMNS, "layer spans: input, English, target"),
            Table("items", ITEM_COLUMNS, "every prompt's last line, answer and English word")),
    params=(Param("task", "translation, repetition or cloze prompts", choices=TASKS),
            Param("lang", "the answer's language"),
            Param("input_lang", "translation only: the language translated from"),
            Param("n", "prompts, a seeded sample", type=int, low=1, high=5000),
            Param("n_boot", "bootstrap resamples for the 95% CIs", type=int, flag="--bootstrap", low=0, high=100_000),
            Param("seed", "seed of the sample, the worked examples and the bootstrap", type=int),
            LENS, PATCHSCOPE_LAYER),
    prepare=_inputs,
)
def latent_language(
    model: "Handle",
    task: str = "translation",
    lang: str = "zh",
    input_lang: str = "fr",
    n: int = 50,
    n_boot: int = 1000,
    seed: int = 0,
    lens: str = "logit",
    patchscope_layer: Optional[int] = None,
    progress: Optional[Progress] = None,
) -> Result:
    """Per-layer p(English word) and p(target word) at the last position; see the module doc.
    Values: `phases` (list of (phase, first, last)), `final` (p of both at layer L)."""
    if task not in TASKS:
        raise InputError(f"Unknown task '{task}': choose one of {', '.join(TASKS)}.")
    _inputs({"task": task, "lang": lang, "input_lang": input_lang, "lens": lens})
    report(progress, 0.0, f"Building {task} prompts")
    items = build_items(model, task, lang, input_lang, seed)
    items = [items[i] for i in pick(range(len(items)), n, seed)]
    if not items:
        raise InputError("No usable prompt.")
    tok = model.tokenizer
    flat = [padded([outcome_ids(tok, e), outcome_ids(tok, a)]) for _, a, e in items]
    out = lens_at(model, encode(tok, [p for p, _, _ in items]), positions="last", top_k=1,
                  own_targets=[[f[0]] for f in flat], lens=lens, patchscope_layer=patchscope_layer,
                  progress=scaled(progress, 0.05, 0.95))
    own = out.own.numpy()  # [L + 1, n, 4]
    probs = np.stack([outcome_probs(own[layer], [f[1] for f in flat]) for layer in range(own.shape[0])], axis=1)
    layers = list(out.layers)
    curves = layer_curves({"en": probs[:, :, 0], lang: probs[:, :, 1]}, np.arange(len(items)), layers, n_boot,
                          seed, value="prob").rename(columns={"target": "language"})
    phases = phase_spans(curves, lang)
    notes = []
    if not (phases["phase"] == "English").any():
        notes.append("No layer where the English word is more likely than the target word (CIs apart): no "
                     "English phase on this model and task.")
    else:
        spans = phases[phases["phase"] == "English"]
        notes.append("English leads at layers " + ", ".join(f"{a}–{b}" if a != b else f"{a}" for a, b in
                                                          zip(spans["first_layer"], spans["last_layer"])) + ".")
    table = pd.DataFrame([(k, p.splitlines()[-1], a, e) for k, (p, a, e) in enumerate(items)], columns=list(ITEM_COLUMNS))
    report(progress, 1.0, "Done")
    return result("latent-language", {"curves": curves, "phases": phases, "items": table}, notes,
                  phases=[tuple(r) for r in phases.itertuples(index=False)],
                  final={"en": float(probs[:, -1, 0].mean()), lang: float(probs[:, -1, 1].mean())},
                  task=task, lang=lang, lens=lens, n_items=len(items), num_layers=model.num_layers,
                  few_shot=CLOZE_SHOT if task == "cloze" else FEW_SHOT)
