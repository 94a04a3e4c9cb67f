"""Concept vs language by activation patching (Dumas et al., ACL 2025, "Separating Tongue from
Thought"), on word-translation prompts with single-token words.

- `patching concept`: a source prompt translates concept X from language A into L_S ("Deutsch:
  "Hund" - Français: ""), a target prompt translates concept Y from B into L_T. The source's
  last-token state at layer l replaces the target's at layer l, and the target's next token is
  read: the probability of (a) its own answer (Y in L_T), (b) the source concept in the target's
  language (X in L_T), (c) the source's own answer (X in L_S) and (d) the target concept in the
  source's language (Y in L_S), with 95% CIs over items. Where (c)+(d) overtakes (a)+(b) the
  patched state carries the output language; where (b)+(c) overtakes (a)+(d) it carries the
  concept: the two switch layers are the result (`switch` table).

  The authors' code for this experiment (`patchscope_lens` in github.com/Butanium/llm-lang-
  agnostic) writes one layer per run; `onward=True` writes the source's states at l..L instead,
  which at the last token makes the final state the source's own, so every layer then reads
  exactly the source's answer (a check, not an experiment).
- `patching mean`: the mean of concept X's latents over N languages (the state of X's word at
  the end of "Español: "perro", per layer) replaces the word's state in a translation prompt for
  another concept Y, at layers l..L (the authors' `object_lens`), and the answer is scored:
  accuracy (top-1 token is X's word in L_T) and p(X in L_T), against one language's latent and
  against the model translating X unpatched.

Every forward goes through `handle.trace` (`hubcore.patching`), so both run on NDIF too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np
import pandas as pd

from ..data.word_concepts import WORD_LANGUAGES
from ..errors import InputError
from ..patching import PREFIX_NOTE, Patch, patched_reads
from ..progress import Progress, report, scaled
from ..stats import bootstrap_ci, wilson_interval
from ..tokens import encode
from ..trace import capture_encoded
from .items_lens import difference_curve, layer_curves
from .registry import Param, experiment, group
from .result import Result, Table, result
from .translation_prompts import (Split, check_pair, disjoint, outcome_ids, outcome_probs, padded, pick,
                                  split_concepts, translation_prompt)

if TYPE_CHECKING:
    from ..models.handle import Handle

group("patching", "concept vs language by activation patching (Dumas et al. 2025)")

OUTCOMES = ("own answer (Y in L_T)", "source concept in target language (X in L_T)",
            "source answer (X in L_S)", "target concept in source language (Y in L_S)")
CURVE_COLUMNS = ("layer", "outcome", "prob", "ci_low", "ci_high", "n")
SWITCH_COLUMNS = ("switch", "layer", "first_layer_ci", "note")
MEAN_COLUMNS = ("layer", "condition", "accuracy", "ci_low", "ci_high", "prob", "prob_ci_low", "prob_ci_high", "n")
ITEM_COLUMNS = ("item", "source_prompt", "target_prompt", "X", "Y", "X_in_L_T", "X_in_L_S", "Y_in_L_T", "Y_in_L_S")
LANGS = Param("languages", "source languages whose latents are averaged, comma-separated", many="comma",
              choices=WORD_LANGUAGES, metavar="CODE,CODE")
N_ITEMS = Param("n", "items (prompt pairs), a seeded sample", type=int, low=1, high=5000)
BOOT = Param("n_boot", "bootstrap resamples for the 95% CIs", type=int, flag="--bootstrap", low=0, high=100_000)
SEED = Param("seed", "seed of the item sample, the worked examples and the bootstrap", type=int)


def lang_param(name: str, help: str) -> Param:
    return Param(name, help, choices=WORD_LANGUAGES)


def switch_layer(diff: pd.DataFrame) -> tuple[Optional[int], Optional[int]]:
    """(first layer whose mean difference is above 0, first layer whose CI lies above 0)."""
    above = diff[diff["mean_diff"] > 0]["layer"]
    sure = diff[diff["ci_low"] > 0]["layer"]
    return (int(above.iloc[0]) if len(above) else None, int(sure.iloc[0]) if len(sure) else None)


# ------------------------------------------------------------------------------ concept

def concept_items(model: "Handle", split: Split, n: int, seed: int, src_in: str, src_out: str, tgt_in: str,
                  tgt_out: str) -> tuple[list[tuple[int, int]], list[list[tuple[int, ...]]], int]:
    """(X, Y) concept pairs whose four outcome words share no token, at most `n`, and how many
    candidate pairs were dropped for sharing one."""
    tok = model.tokenizer
    items = split.items
    pairs, outcomes, dropped = [], [], 0
    for i, x in enumerate(items):
        y = items[(i + 1) % len(items)]
        if x == y:
            continue
        sets = [outcome_ids(tok, split.word(y, tgt_out)), outcome_ids(tok, split.word(x, tgt_out)),
                outcome_ids(tok, split.word(x, src_out)), outcome_ids(tok, split.word(y, src_out))]
        if not disjoint(sets):
            dropped += 1
            continue
        pairs.append((x, y))
        outcomes.append(sets)
    keep = pick(range(len(pairs)), n, seed)
    return [pairs[i] for i in keep], [outcomes[i] for i in keep], dropped


@experiment(
    name="patching concept",
    summary="patch a translation's last-token state into another translation, per layer (Dumas et al.)",
    description="A source prompt translates X from --source-input into --source-lang, a target prompt "
                "translates Y from --target-input into --target-lang; the source's last-token state at "
                "layer l replaces the target's, and the target's next token is read. Writes layer,outcome,"
                "prob,ci_low,ci_high,n for four outcomes (own answer Y in L_T, X in L_T, X in L_S, Y in L_S); "
                "the language and concept switch layers go to <out>_switch.csv and the prompts to "
                "<out>_items.csv.",
    page="concept_language",
    tables=(Table("curves", CURVE_COLUMNS, "p(outcome) of the patched target per layer, 95% CI over items"),
            Table("switch", SWITCH_COLUMNS, "layers where the output language and the concept switch"),
            Table("items", ITEM_COLUMNS, "every prompt pair and its outcome words")),
    params=(lang_param("source_lang", "output language of the source prompt (L_S)"),
            lang_param("target_lang", "output language of the target prompt (L_T)"),
            lang_param("source_input", "input language of the source prompt"),
            lang_param("target_input", "input language of the target prompt"),
            N_ITEMS, BOOT, SEED,
            Param("onward", "write the source's states at layers l..L, not at l only (a check: at the "
                  "last token this copies the source's output)", switch=True)),
)
def concept_patching(
    model: "Handle",
    source_lang: str = "fr",
    target_lang: str = "zh",
    source_input: str = "de",
    target_input: str = "es",
    n: int = 50,
    n_boot: int = 1000,
    seed: int = 0,
    onward: bool = False,
    progress: Optional[Progress] = None,
) -> Result:
    """Patch source last-token states into target prompts layer by layer; see the module doc.

    Values: `switch` (language / concept switch layers), `baseline_own` (mean p of the target's
    own answer unpatched), `baseline_source` (mean p of the source's own answer), `n_items`."""
    check_pair(source_input, source_lang, "The source prompt")
    check_pair(target_input, target_lang, "The target prompt")
    if source_lang == target_lang:
        raise InputError("The source and target prompts need different output languages: the experiment "
                         "separates the language from the concept.")
    langs = [source_input, source_lang, target_input, target_lang]
    report(progress, 0.0, "Building word-translation prompts")
    split = split_concepts(model, langs, seed, single=[source_lang, target_lang])  # the words read
    pairs, sets, dropped = concept_items(model, split, n, seed, source_input, source_lang, target_input, target_lang)
    if not pairs:
        raise InputError("No prompt pair has four outcome words that share no token.")
    src_ex, tgt_ex = split.example_pairs(source_input, source_lang), split.example_pairs(target_input, target_lang)
    src_prompts = [translation_prompt(src_ex, source_input, source_lang, split.word(x, source_input)) for x, _ in pairs]
    tgt_prompts = [translation_prompt(tgt_ex, target_input, target_lang, split.word(y, target_input)) for _, y in pairs]
    tok = model.tokenizer
    src_enc, tgt_enc = encode(tok, src_prompts), encode(tok, tgt_prompts)
    latents = capture_encoded(model, src_enc, positions="last", progress=scaled(progress, 0.02, 0.15)).stacked()
    top = model.num_layers
    layers = list(range(top + 1))
    flat = [padded(s) for s in sets]
    rows, own = [], []
    for i in range(len(pairs)):
        rows.append(Patch(prompt=i))  # unpatched: the target's own answer
        own.append(flat[i][0])
        for layer in layers:
            written = list(range(layer, top + 1)) if onward else [layer]
            rows.append(Patch(prompt=i, position=-1, layers=written, states=latents[i, written]))
            own.append(flat[i][0])
    import torch

    _, lp = patched_reads(model, tgt_enc, rows, torch.tensor(own, dtype=torch.long),
                          progress=scaled(progress, 0.15, 0.9))
    masks = [flat[i][1] for i in range(len(pairs)) for _ in range(top + 2)]
    probs = outcome_probs(lp.numpy(), masks).reshape(len(pairs), top + 2, len(OUTCOMES))
    base, patched = probs[:, 0], probs[:, 1:]  # [n, 4], [n, L + 1, 4]
    # the source's own answer, unpatched (how well the model does the source translation)
    src_rows = [Patch(prompt=i) for i in range(len(pairs))]
    _, src_lp = patched_reads(model, src_enc, src_rows, torch.tensor([f[0] for f in flat], dtype=torch.long),
                              progress=scaled(progress, 0.9, 0.97))
    src_base = outcome_probs(src_lp.numpy(), [f[1] for f in flat])[:, 2]
    groups = np.arange(len(pairs))
    curves = layer_curves({name: patched[:, :, o] for o, name in enumerate(OUTCOMES)}, groups, layers, n_boot,
                          seed, value="prob").rename(columns={"target": "outcome"})
    lang_diff = difference_curve(patched[:, :, 2] + patched[:, :, 3], patched[:, :, 0] + patched[:, :, 1], groups,
                                 layers, n_boot, seed)
    concept_diff = difference_curve(patched[:, :, 1] + patched[:, :, 2], patched[:, :, 0] + patched[:, :, 3],
                                    groups, layers, n_boot, seed)
    switch_rows, switches, notes = [], {}, []
    for name, diff, what in (("language", lang_diff, "p(L_S words) > p(L_T words)"),
                             ("concept", concept_diff, "p(X words) > p(Y words)")):
        first, sure = switch_layer(diff)
        switches[name] = first
        switch_rows.append((name, first, sure, f"first layer where {what}" + ("" if first is not None else
                                                                               ": never (null result)")))
    lang_at, concept_at = switches["language"], switches["concept"]
    if lang_at is None and concept_at is None:
        notes.append("Neither the language nor the concept of the source ever takes over: a null result on "
                     "this model.")
    elif lang_at is not None and concept_at is not None:
        order = ("the same layer" if lang_at == concept_at else
                 "an earlier layer than the concept" if lang_at < concept_at else "a later layer than the concept")
        notes.append(f"The output language switches to the source's at layer {lang_at}, the concept at layer "
                     f"{concept_at}: the language is carried from {order}.")
    if onward:
        notes.append("Onward patching writes the source's states up to the last layer, so the target reads "
                     "the source's own answer at every layer (a check of the patching, not of the model).")
    if dropped:
        notes.append(f"{dropped} candidate pair(s) left out: two of their outcome words share a token.")
    if model.remote != "off":
        notes.append(PREFIX_NOTE)
    items = pd.DataFrame([(k, src_prompts[k].splitlines()[-1], tgt_prompts[k].splitlines()[-1],
                           split.concept(x), split.concept(y), split.word(x, target_lang), split.word(x, source_lang),
                           split.word(y, target_lang), split.word(y, source_lang))
                          for k, (x, y) in enumerate(pairs)], columns=list(ITEM_COLUMNS))
    report(progress, 1.0, "Done")
    return result("patching concept", {"curves": curves, "switch": pd.DataFrame(switch_rows, columns=list(SWITCH_COLUMNS)),
                                       "items": items}, notes,
                  switch=switches, baseline_own=float(base[:, 0].mean()), baseline_source=float(src_base.mean()),
                  n_items=len(pairs), num_layers=top, outcomes=list(OUTCOMES), onward=onward,
                  languages={"source_input": source_input, "source_lang": source_lang,
                             "target_input": target_input, "target_lang": target_lang})


# --------------------------------------------------------------------------------- mean

@experiment(
    name="patching mean",
    summary="patch the mean of a concept's latents over languages into a translation (Dumas et al.)",
    description="For each concept X: the state of X's word at the end of a prompt in each of --languages, "
                "averaged, replaces the word's state (layers l..L) in a translation prompt for another concept "
                "into --lang; the answer is X in --lang if patching worked. Writes layer,condition,accuracy,"
                "ci_low,ci_high,prob,prob_ci_low,prob_ci_high,n for the mean latent, one language's latent and "
                "the unpatched translation of X (the same at every layer).",
    page="concept_language",
    tables=(Table("accuracy", MEAN_COLUMNS, "translation accuracy and p(X in L_T) per layer and condition"),),
    params=(lang_param("lang", "the language the translations are into (L_T)"), LANGS,
            lang_param("input_lang", "input language of the translation prompt that is patched"),
            N_ITEMS, BOOT, SEED),
)
def mean_patching(
    model: "Handle",
    lang: str = "zh",
    languages: Sequence[str] = ("en", "es", "fr", "de"),
    input_lang: str = "en",
    n: int = 50,
    n_boot: int = 1000,
    seed: int = 0,
    progress: Optional[Progress] = None,
) -> Result:
    """Mean-latent patching; see the module doc. Values `best` (layer, accuracy of the mean
    latent's best layer), `unpatched` (accuracy), `single_lang`, `n_items`."""
    import torch

    languages = list(dict.fromkeys(languages))
    if len(languages) < 2:
        raise InputError("Average over at least two languages.")
    if lang in languages:
        raise InputError(f"The latents' languages must not include the output language {lang}.")
    check_pair(input_lang, lang, "The translation prompt")
    report(progress, 0.0, "Building word-translation prompts")
    split = split_concepts(model, [*languages, lang, input_lang], seed, single=[lang])  # the words read
    tok = model.tokenizer
    items = pick(split.items, n, seed)
    if len(items) < 2:
        raise InputError("Too few concepts with single-token words in these languages.")
    targets = [items[(i + 1) % len(items)] for i in range(len(items))]
    sets = [[outcome_ids(tok, split.word(x, lang)), outcome_ids(tok, split.word(y, lang))] for x, y in zip(items, targets)]
    keep = [i for i, s in enumerate(sets) if disjoint(s)]
    items, targets, sets = [items[i] for i in keep], [targets[i] for i in keep], [sets[i] for i in keep]
    # the word's last token in the translation prompt is where the latent goes: keep the items
    # whose prompt tokenizes the same with the word closed as cut right after it
    ex = split.example_pairs(input_lang, lang)
    tgt_prompts = [translation_prompt(ex, input_lang, lang, split.word(y, input_lang)) for y in targets]
    cut = [translation_prompt(ex, input_lang, lang, split.word(y, input_lang), end_at_word=True) for y in targets]
    tgt_enc, cut_enc = encode(tok, tgt_prompts), encode(tok, cut)
    same = [i for i, (full, part) in enumerate(zip(tgt_enc, cut_enc)) if full.ids[:len(part)] == part.ids]
    split_off = len(items) - len(same)
    if len(same) < 2:
        raise InputError("The translation prompts tokenize differently once the word is closed; this "
                         "tokenizer needs another prompt format.")
    items, targets, sets = [items[i] for i in same], [targets[i] for i in same], [sets[i] for i in same]
    tgt_enc = [tgt_enc[i] for i in same]
    positions = [len(cut_enc[i]) - 1 for i in same]
    own_prompts = [translation_prompt(ex, input_lang, lang, split.word(x, input_lang)) for x in items]
    # the concept's latent in each source language: the last token of its word, prompt cut there
    src_prompts = [translation_prompt(split.example_pairs(s, lang), s, lang, split.word(x, s), end_at_word=True)
                   for x in items for s in languages]
    lat = capture_encoded(model, encode(tok, src_prompts), positions="last", progress=scaled(progress, 0.02, 0.2)).stacked()
    top = model.num_layers
    lat = lat.reshape(len(items), len(languages), top + 1, -1)
    mean_lat, single = lat.mean(dim=1), lat[:, 0]
    flat = [padded(s) for s in sets]
    layers = list(range(top + 1))
    rows, own = [], []
    for i in range(len(items)):
        for states in (mean_lat, single):
            for layer in layers:
                rows.append(Patch(prompt=i, position=positions[i], layers=list(range(layer, top + 1)),
                                  states=states[i, layer:]))
                own.append(flat[i][0])
    top_ids, lp = patched_reads(model, tgt_enc, rows, torch.tensor(own, dtype=torch.long), progress=scaled(progress, 0.2, 0.9))
    own_ids, own_lp = patched_reads(model, encode(tok, own_prompts), [Patch(prompt=i) for i in range(len(items))],
                                    torch.tensor([f[0] for f in flat], dtype=torch.long), progress=scaled(progress, 0.9, 0.98))
    masks = [flat[i][1] for i in range(len(items)) for _ in range(2 * (top + 1))]
    probs = outcome_probs(lp.numpy(), masks).reshape(len(items), 2, top + 1, 2)[..., 0]  # p(X in L_T)
    hits = np.array([[int(top_ids[r, 0]) in set(sets[i][0]) for r in range(i * 2 * (top + 1), (i + 1) * 2 * (top + 1))]
                     for i in range(len(items))]).reshape(len(items), 2, top + 1)
    own_p = outcome_probs(own_lp.numpy(), [f[1] for f in flat])[:, 0]
    own_hit = np.array([int(own_ids[i, 0]) in set(sets[i][0]) for i in range(len(items))])
    groups = np.arange(len(items))
    rows_out = []
    names = (f"mean latent ({','.join(languages)})", f"single latent ({languages[0]})")
    for c, name in enumerate(names):
        lo, hi = wilson_interval(hits[:, c].sum(0), len(items))
        pm, plo, phi = bootstrap_ci(probs[:, c], groups, n_boot=n_boot, seed=seed)
        rows_out += [(layer, name, float(hits[:, c, j].mean()), float(lo[j]), float(hi[j]), float(pm[j]), float(plo[j]),
                      float(phi[j]), len(items)) for j, layer in enumerate(layers)]
    lo, hi = wilson_interval(np.array([own_hit.sum()]), len(items))
    pm, plo, phi = bootstrap_ci(own_p[:, None], groups, n_boot=n_boot, seed=seed)
    rows_out += [(layer, f"unpatched ({input_lang} → {lang})", float(own_hit.mean()), float(lo[0]), float(hi[0]),
                  float(pm[0]), float(plo[0]), float(phi[0]), len(items)) for layer in layers]
    table = pd.DataFrame(rows_out, columns=list(MEAN_COLUMNS))
    acc_mean = hits[:, 0].mean(0)
    best = int(np.argmax(acc_mean))
    notes = []
    verdict = ("above" if acc_mean[best] > own_hit.mean() else "not above")
    notes.append(f"Best layer for the mean latent: {best} (accuracy {acc_mean[best]:.0%} vs {own_hit.mean():.0%} "
                 f"unpatched and {hits[:, 1, best].mean():.0%} with the {languages[0]} latent alone): {verdict} the "
                 "model's own translation.")
    if split_off:
        notes.append(f"{split_off} item(s) left out: their prompt tokenizes differently once the word is closed.")
    if model.remote != "off":
        notes.append(PREFIX_NOTE)
    report(progress, 1.0, "Done")
    return result("patching mean", {"accuracy": table}, notes, best={"layer": best, "accuracy": float(acc_mean[best])},
                  unpatched=float(own_hit.mean()), single_lang=languages[0], n_items=len(items), num_layers=top,
                  lang=lang, input_lang=input_lang, languages=languages)
