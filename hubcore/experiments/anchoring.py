"""Anchoring experiment (paper Eq. 3, Figure 3 right, appendix A.1).

At every position of non-English text whose next token is a dictionary word, the logit lens
reads, layer by layer, log p(English translation's token) and log p(actual next token). The
semantic-hub claim is that intermediate layers lean towards English (the "anchor" language)
before the output returns to the input language. Which positions and tokens are used is decided
in `hubcore.experiments.word_alignment` (and returned in `.items`, so the page can show them).

The lens runs inside the trace at the prediction positions only (all layers, batched) and keeps
only each position's two token ids: never a [layers x positions x vocab] tensor, and a remote run
ships back just those numbers.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
import pandas as pd

from ..data.parallel import pair_source
from ..errors import InputError
from ..lens import lens_at
from ..progress import Progress, report, scaled
from .word_alignment import ITEM_COLUMNS, AnchorItem, default_lexicon, find_items
from ..text.segment import base_lang, is_chinese
from ..tokens import encode, token_texts
from .items_lens import CURVE_COLUMNS, difference_curve, item_layer_table, layer_curves
from .multilingual import bootstrap_params, read_texts, texts_param
from .lens_param import LENS, checked_lens
from .registry import Param, experiment
from .result import Result, Table, result

if TYPE_CHECKING:
    from ..models.handle import Handle as HubModel

DIFF_COLUMNS = ["layer", "mean_diff", "ci_low", "ci_high", "frac_english_higher", "n"]
ITEM_LOGPROB_COLUMNS = ["item", "layer", "english_logprob", "next_logprob", "top1_token"]
TARGETS = ("english", "next")
MAX_TEXTS = 5000
MAX_LEXICON = 10**6


def english_wins(difference: pd.DataFrame) -> list[int]:
    """Layers where log p(English) > log p(next) with the whole 95% CI above zero."""
    return [int(layer) for layer in difference.loc[difference["ci_low"] > 0, "layer"]]


def _anchoring_inputs(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Read the texts and the lexicon (a file or a built-in pair set) and check that a lexicon
    exists for the language, all before any model loads."""
    lang = str(values.get("lang") or "").strip()
    if not lang:
        raise InputError("Give the language of the texts (--lang), e.g. zh or es.")
    if base_lang(lang) == "en":
        raise InputError("The anchoring experiment needs non-English text.")
    texts, _, notes = read_texts(values)
    lexicon = None
    if values.get("lexicon"):
        entries, lex_notes = pair_source(str(values["lexicon"]), MAX_LEXICON)
        notes += lex_notes
        lexicon = dict(entries.pairs)
    elif not is_chinese(lang):
        default_lexicon(lang)  # a language without word lists fails here (cached for the run)
    return {"texts": tuple(texts), "lang": lang, "lexicon": lexicon, "raw": bool(values.get("raw")),
            "n_boot": int(values["n_boot"]), "seed": int(values["seed"]),
            "lens": checked_lens(values.get("lens") or "logit", bool(values.get("raw")))}, notes


def _anchoring_report(res: Result) -> list[str]:
    """The CLI's summary lines: positions used, skipped words, layers where English wins."""
    skipped = ", ".join(f"{k}: {v}" for k, v in res.skipped.items() if v) or "none"
    wins = ", ".join(map(str, res.english_wins)) or "none"
    return [f"{len(res.items)} positions in {res.n_texts} texts; skipped words: {skipped}",
            f"English translation above the next token (whole 95% CI) at layers: {wins}"]


@experiment(
    name="anchoring",
    summary="English anchoring of non-English text (paper Eq. 3)",
    description="At positions whose next token is a dictionary word: logit-lens log p of its "
                "English translation vs of the actual next token, per layer. Writes "
                "layer,target,mean_logprob,ci_low,ci_high,n; also <out>_difference.csv, "
                "<out>_items.csv and <out>_item_logprobs.csv.",
    page="multilingual",
    tables=(Table("curves", tuple(CURVE_COLUMNS), "mean log p of the English and the next token per layer"),
            Table("difference", tuple(DIFF_COLUMNS), "log p(English) - log p(next) per layer"),
            Table("items", tuple(ITEM_COLUMNS), "one row per position used"),
            Table("item_logprobs", tuple(ITEM_LOGPROB_COLUMNS), "both log-probs per position and layer")),
    params=(texts_param(),
            Param("lang", "language of the texts (zh uses jieba + CC-CEDICT)", required=True),
            Param("lexicon", "optional two-column TSV: source word<TAB>English word (or a built-in "
                  "pair set)", arg="", metavar="FILE|SET"),
            Param("raw", "skip the final norm (the paper's code)", switch=True),
            *bootstrap_params(),
            Param("max_texts", "sample larger files and sets", type=int, default=2000, arg="",
                  low=1, high=MAX_TEXTS, metavar="N"),
            LENS),
    prepare=_anchoring_inputs,
    report=_anchoring_report,
)
def anchoring(
    model: "HubModel",
    texts: Sequence[str],
    lang: str,
    lexicon: Optional[dict] = None,
    raw: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
    progress: Optional[Progress] = None,
    bootstrap: str = "texts",
    lens: str = "logit",
) -> Result:
    """Per-layer mean log p(English translation) vs log p(actual next token), 95% bootstrap CI.

    `lexicon` maps source words to English words; None means CC-CEDICT for Chinese and the
    bundled lexicon (`hubcore.data.parallel.bilingual_lexicon`) for other languages. `raw=True`
    skips the final norm (the paper's code). `bootstrap="texts"` resamples whole texts (their
    positions are correlated); "positions" resamples positions independently.

    Tables: curves, difference, items, item_logprobs; values: skipped (words not used, by
    reason), english_wins (layers), num_layers, raw, lang, bootstrap (the unit used), n_texts.
    """
    texts = list(texts)
    # blank texts are left out; item text indices still refer to the caller's list
    keep = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
    if not keep:
        raise InputError("No texts given: paste or choose some non-English sentences.")
    if len(texts) > MAX_TEXTS:
        raise InputError(f"{len(texts)} texts is more than this experiment takes ({MAX_TEXTS}).")
    if bootstrap not in ("texts", "positions"):
        raise InputError("bootstrap must be 'texts' or 'positions'.")
    if not 0 <= n_boot <= 100_000:
        raise InputError("The number of bootstrap draws must lie in 0..100000.")
    tok = model.tokenizer
    report(progress, 0.0, "Segmenting and aligning words")
    if lexicon is None and not is_chinese(lang):
        lexicon = default_lexicon(lang)
    kept_encoded = encode(tok, [texts[i] for i in keep])
    encoded = dict(zip(keep, kept_encoded))
    items, skipped = find_items(tok, [texts[i] for i in keep], lang, lexicon, encoded=kept_encoded)
    items = [replace(it, text_index=keep[it.text_index]) for it in items]
    if not items:
        reasons = ", ".join(f"{k}: {v}" for k, v in skipped.items() if v) or "no words found"
        raise InputError(
            "No position could be used (a word must be one model token with a one-token English "
            f"translation). Skipped words: {reasons}."
        )
    report(progress, 0.05, f"{len(items)} positions in {len({i.text_index for i in items})} texts")

    # the lens only at the prediction positions of texts with items, all layers, in the trace
    import torch

    used = sorted({it.text_index for it in items})
    row_of = {ti: r for r, ti in enumerate(used)}
    positions: list[list[int]] = [[] for _ in used]
    own: list[list[list[int]]] = [[] for _ in used]
    order: list[list[int]] = [[] for _ in used]  # item indices in each text's position order
    for k, it in enumerate(items):
        r = row_of[it.text_index]
        positions[r].append(it.position)
        own[r].append([it.english_id, it.next_id])
        order[r].append(k)
    out = lens_at(model, [encoded[ti] for ti in used], positions=positions, top_k=1,
                  apply_norm=not raw, own_targets=own, progress=scaled(progress, 0.05, 0.95),
                  lens=checked_lens(lens, raw))
    flat = [k for r in order for k in r]  # item index of each lens column
    n_items = len(items)
    layers_read = list(out.layers)
    back = torch.empty(n_items, dtype=torch.long)
    back[torch.tensor(flat)] = torch.arange(n_items)
    own_lp = out.own[:, back].numpy()  # [n_layers, n_items, 2]
    eng = own_lp[:, :, 0].T.astype(np.float32)
    nxt = own_lp[:, :, 1].T.astype(np.float32)
    top1 = out.top_ids[:, back, 0].numpy().T

    report(progress, 0.96, "Bootstrap")
    text_ids = np.array([it.text_index for it in items])
    unit = bootstrap
    notes: list[str] = []
    if unit == "texts" and len(used) < 2:
        unit = "positions"
        notes.append("Only one text has usable positions: the CI resamples positions.")
    groups = text_ids if unit == "texts" else np.arange(n_items)
    layers = layers_read
    curves = layer_curves({"english": eng, "next": nxt}, groups, layers, n_boot, seed)
    difference = difference_curve(eng, nxt, groups, layers, n_boot, seed, frac="frac_english_higher")
    items_df = pd.DataFrame([it.as_dict() for it in items], columns=ITEM_COLUMNS)
    item_logprobs = item_layer_table({"english": eng, "next": nxt}, top1, layers,
                                     lambda i: token_texts(tok, [i])[0],
                                     names={"english": "english_logprob", "next": "next_logprob"})
    report(progress, 1.0, f"Done: {n_items} positions")
    return result(
        "anchoring",
        {"curves": curves, "difference": difference, "items": items_df, "item_logprobs": item_logprobs},
        notes,
        skipped=dict(skipped),
        english_wins=english_wins(difference),
        num_layers=model.num_layers,
        raw=raw,
        lang=lang,
        bootstrap=unit,
        n_texts=len(keep),
    )


def items_from_frame(df: pd.DataFrame) -> list[AnchorItem]:
    """Rebuild `AnchorItem`s from a result's `items` table."""
    return [AnchorItem(**{k: row[k] for k in ITEM_COLUMNS}) for row in df.to_dict("records")]
