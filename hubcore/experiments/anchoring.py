"""Anchoring experiment (paper Eq. 3, Figure 3 right, appendix A.1).

At every position of non-English text whose next token is a dictionary word, the logit lens
reads, layer by layer, log p(English translation's token) and log p(actual next token). The
semantic-hub claim is that intermediate layers lean towards English (the "anchor" language)
before the output returns to the input language. Which positions and tokens are used is decided
in `hubcore.text.alignment` (and returned in `.items`, so the page can show them).

The lens runs inside the trace at the prediction positions only (all layers, batched) and keeps
only each position's two token ids: never a [layers x positions x vocab] tensor, and a remote run
ships back just those numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np
import pandas as pd

from ..text.alignment import ITEM_COLUMNS, AnchorItem, default_lexicon, find_items
from ..text.segment import is_chinese
from ..errors import InputError
from ..lens import lens_at
from ..progress import Progress, report, scaled
from ..tokens import encode, token_texts
from .items_lens import CURVE_COLUMNS, difference_curve, item_layer_table, layer_curves

if TYPE_CHECKING:
    from ..models import HubModel

DIFF_COLUMNS = ["layer", "mean_diff", "ci_low", "ci_high", "frac_english_higher", "n"]
TARGETS = ("english", "next")
MAX_TEXTS = 5000


@dataclass
class AnchoringReport:
    """Tidy results of one anchoring run."""

    curves: pd.DataFrame  # layer, target (english|next), mean_logprob, ci_low, ci_high, n
    items: pd.DataFrame  # one row per used position (see hubcore.text.alignment.AnchorItem)
    skipped: dict[str, int]  # words not used, by reason
    difference: pd.DataFrame  # layer, mean_diff (english - next), ci_low, ci_high, frac, n
    item_logprobs: pd.DataFrame  # item, layer, english_logprob, next_logprob, top1_token
    num_layers: int
    raw: bool
    lang: str
    bootstrap: str  # resampling unit: "texts" or "positions"
    n_texts: int = 0
    notes: list[str] = field(default_factory=list)

    def english_wins(self) -> list[int]:
        """Layers where log p(English) > log p(next) with the whole 95% CI above zero."""
        d = self.difference
        return [int(l) for l in d.loc[d["ci_low"] > 0, "layer"]]

    def csv_frame(self) -> pd.DataFrame:
        return self.curves[CURVE_COLUMNS]


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
) -> AnchoringReport:
    """Per-layer mean log p(English translation) vs log p(actual next token), 95% bootstrap CI.

    `lexicon` maps source words to English words; None means CC-CEDICT for Chinese and the
    bundled lexicon (`hubcore.data.parallel.bilingual_lexicon`) for other languages. `raw=True`
    skips the final norm (the paper's code). `bootstrap="texts"` resamples whole texts (their
    positions are correlated); "positions" resamples positions independently.
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
                  apply_norm=not raw, own_targets=own, progress=scaled(progress, 0.05, 0.95))
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
    return AnchoringReport(
        curves=curves,
        items=items_df,
        skipped=dict(skipped),
        difference=difference,
        item_logprobs=item_logprobs,
        num_layers=model.num_layers,
        raw=raw,
        lang=lang,
        bootstrap=unit,
        n_texts=len(keep),
        notes=notes,
    )


def items_from_frame(df: pd.DataFrame) -> list[AnchorItem]:
    """Rebuild `AnchorItem`s from a report's `.items` frame."""
    return [AnchorItem(**{k: row[k] for k in ITEM_COLUMNS}) for row in df.to_dict("records")]
