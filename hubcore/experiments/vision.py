"""Vision experiments (paper §3.5 Fig. 11, appendix C, and §4 Fig. 12c) on any HF VLM.

- `image_caption_similarity` (Fig. 11a): per layer, the cosine between an image's mean-pooled
  image-token states and its caption's mean-pooled token states (captions run as text only),
  matched minus non-matching, raw and centred, with 95% bootstrap CIs and retrieval@1. Images are
  solid colours (caption: the colour word) or emoji (caption: the emoji's label in a language).
- `patch_lens` (Fig. 11b): every image token of a solid-colour image read through the final norm
  and LM head at every layer; the share of patches whose top-1 token is the colour word (leading
  space or not) against the share reading "white" (a baseline colour not in the image), plus a
  patch-grid table for drawing the top-1 token over the image.
- `caption_alignment` (appendix C): for emoji images, the best log-probability over patches of
  the emoji's own label vs the other emoji's labels, per layer (matched - nonmatching, with CIs),
  and the share of images whose label is in some patch's top-k.
- `two_colour_replacement` (Fig. 12c): on left/right two-colour images, add
  s x (W_U[new] - W_U[old]) to one half's image-token states at every layer from l onward, ask
  "What colors are in this image?", and count a success only when both colours come out right
  (the new one and the kept one named, the replaced one not), swept over l.

Layer convention: 0 = the language model's input (image features merged in), i = output of
block i, L = last block. Each function serves the Vision page and `python -m hubcore vision ...`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from ..lens import word_variants
from ..progress import Progress, report, scaled
from ..similarity import METRICS, pair_similarity
from ..stats import bootstrap_ci
from ..steering.vectors import unembedding_rows
from ..trace import check_layers
from ..models.vision import SPEC_SYNTAX
from ..vision.images import (COLOURS, PAPER_COLOURS, emoji_image, emoji_items, load_image, solid, split,
                             thumbnail_png)
from ..vision.processing import (
    batches,
    build_prompt,
    capture_states,
    encode,
    encode_texts,
    generate_with_edits,
    image_states,
    image_token_positions,
    lens_images,
    patch_grid,
)

if TYPE_CHECKING:
    from ..models.vision import VisionHandle

# The experiments, and the model-spec syntax and images the Vision page shows (re-exported:
# pages import only experiments, data, errors and app helpers).
__all__ = [
    "COLOURS", "CaptionAlignment", "DEFAULT_QUESTION", "ITEM_KINDS", "PAPER_COLOURS", "PatchLens",
    "Replacement", "SCALES", "SPEC_SYNTAX", "VisionSimilarity", "caption_alignment",
    "default_replacement_items", "image_caption_similarity", "image_lens", "load_image", "patch_lens",
    "solid", "thumbnail_png", "two_colour_replacement",
]

ITEM_KINDS = ("colours", "emoji")
DEFAULT_QUESTION = "What colors are in this image?"
SCALES = ("raw", "residual")


def _check_colours(colours: Sequence[str], at_least: int = 1) -> list[str]:
    out = list(dict.fromkeys(c.strip().lower() for c in colours if c.strip()))
    unknown = [c for c in out if c not in COLOURS]
    if unknown:
        raise InputError(f"Unknown colour(s) {', '.join(unknown)}: choose from {', '.join(COLOURS)}.")
    if len(out) < at_least:
        raise InputError(f"Pick at least {at_least} colour(s).")
    return out


# ----------------------------------------------------------------------------- Fig. 11a


@dataclass
class VisionSimilarity:
    curves: pd.DataFrame  # layer,metric,matched,baseline,adjusted,ci_low,ci_high,retrieval_at_1
    items: pd.DataFrame  # item,caption,hexcode (emoji)
    prompt: str
    notes: list[str] = field(default_factory=list)


def _items(kind: str, colours: Sequence[str], n: int, lang: str, seed: int) -> tuple[list[Any], pd.DataFrame]:
    if kind == "colours":
        cols = _check_colours(colours, at_least=2)
        return [solid(c) for c in cols], pd.DataFrame({"item": cols, "caption": cols, "hexcode": ""})
    if kind == "emoji":
        rows = emoji_items(n, [lang], seed=seed)
        return ([emoji_image(r["hexcode"]) for r in rows],
                pd.DataFrame({"item": [r["en"] for r in rows], "caption": [r[lang] for r in rows],
                              "hexcode": [r["hexcode"] for r in rows]}))
    raise InputError(f"Unknown item kind '{kind}': use {', '.join(ITEM_KINDS)}.")


def _caption_states(model: "VisionHandle", captions: Sequence[str], layers: Sequence[int],
                    template: str, batch_size: int) -> Any:
    """`[N, n_layers, d]`: each caption's states averaged over its (non-special) tokens."""
    import torch

    if "{}" not in template:
        raise InputError("The caption template must contain {} where the caption goes.")
    special = set(model.tokenizer.all_special_ids)
    out = []
    for rng in batches(len(captions), batch_size):
        inputs = encode_texts(model, [template.format(captions[i]) for i in rng])
        cols = []
        for ids, mask in zip(inputs["input_ids"].tolist(), inputs["attention_mask"].tolist()):
            keep = [j for j, (t, m) in enumerate(zip(ids, mask)) if m and t not in special]
            cols.append(keep or [len(ids) - 1])
        out += [s.mean(dim=0) for s in capture_states(model, inputs, cols, layers)]
    return torch.stack(out)


def image_caption_similarity(
    model: "VisionHandle",
    kind: str = "colours",
    colours: Sequence[str] = tuple(COLOURS),
    n: int = 40,
    lang: str = "en",
    question: str = "",
    caption_template: str = "{}",
    n_boot: int = 1000,
    seed: int = 0,
    batch_size: int = 8,
    progress: Optional[Progress] = None,
) -> VisionSimilarity:
    """Image (mean over its image tokens) vs caption (mean over its tokens) per layer (Fig. 11a)."""
    import torch

    images, items = _items(kind, colours, n, lang, seed)
    layers = check_layers(model, None)
    prompt = build_prompt(model, question, chat=bool(question))
    states, _ = image_states(model, images, prompt, layers, batch_size, scaled(progress, 0.0, 0.6))
    a = torch.stack([s.mean(dim=0) for s in states])
    report(progress, 0.65, "Captions")
    b = _caption_states(model, list(items["caption"]), layers, caption_template, batch_size)
    report(progress, 0.85, "Bootstrapping confidence intervals")
    curves = pair_similarity(a, b, layers=layers, metrics=METRICS, n_boot=n_boot, seed=seed)
    report(progress, 1.0, "Done")
    return VisionSimilarity(curves=curves, items=items, prompt=prompt)


# ----------------------------------------------------------------------------- Fig. 11b


@dataclass
class PatchLens:
    curves: pd.DataFrame  # layer,colour,target,share,ci_low,ci_high,n_patches
    grid: pd.DataFrame  # colour,layer,row,col,token,prob,reads
    variants: pd.DataFrame  # word,variant,token,token_id
    prompt: str
    notes: list[str] = field(default_factory=list)


def _variant_table(model: "VisionHandle", words: Sequence[str]) -> pd.DataFrame:
    rows = [(w, v, model.tokenizer.decode([tid]), tid)
            for w in words for v, tid in word_variants(model.tokenizer, w)]
    return pd.DataFrame(rows, columns=["word", "variant", "token", "token_id"])


def patch_lens(
    model: "VisionHandle",
    colours: Sequence[str] = PAPER_COLOURS,
    baseline: str = "white",
    question: str = "",
    raw: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
    progress: Optional[Progress] = None,
) -> PatchLens:
    """Share of image patches whose top-1 lens token is the colour word vs `baseline`, per layer.

    CIs: per colour, patches resampled; for "all", images resampled (patches of one image come
    along together). The grid gives each patch's top-1 token and its probability at every layer.
    """
    cols = _check_colours(colours)
    baseline = _check_colours([baseline])[0]
    notes = []
    if baseline in cols:
        cols = [c for c in cols if c != baseline]
        notes.append(f"'{baseline}' is the baseline word, so its own image was left out.")
        if not cols:
            raise InputError("Pick at least one colour other than the baseline.")
    variants = _variant_table(model, cols + [baseline])
    ids_of = {w: set(variants.loc[variants.word == w, "token_id"]) for w in cols + [baseline]}
    layers = check_layers(model, None)
    prompt = build_prompt(model, question, chat=bool(question))
    lenses, grids = lens_images(model, [solid(c) for c in cols], prompt, layers, top_k=1,
                                apply_norm=not raw, progress=scaled(progress, 0.0, 0.9))
    tok = model.tokenizer
    rows, grid_rows = [], []
    per_image: list[tuple[np.ndarray, np.ndarray]] = []
    for colour, out, g in zip(cols, lenses, grids):
        top = out.top_ids[:, :, 0].numpy()  # [n_layers, P]
        prob = out.top_logprobs[:, :, 0].exp().numpy()
        is_c = np.isin(top, list(ids_of[colour]))
        is_b = np.isin(top, list(ids_of[baseline]))
        per_image.append((is_c.T.astype(float), is_b.T.astype(float)))  # [P, n_layers]
        for target, hits in (("colour", is_c), ("baseline", is_b)):
            mean, lo, hi = bootstrap_ci(hits.T.astype(float), np.arange(hits.shape[1]), n_boot=n_boot, seed=seed)
            rows += [(layers[li], colour, target, mean[li], lo[li], hi[li], hits.shape[1])
                     for li in range(len(layers))]
        names = {int(t): tok.decode([int(t)]) for t in np.unique(top)}
        r, c = np.divmod(np.arange(top.shape[1]), g["cols"])
        for li in range(len(layers)):
            reads = np.where(is_c[li], "colour", np.where(is_b[li], "baseline", "other"))
            grid_rows.append(pd.DataFrame({
                "colour": colour, "layer": layers[li], "row": r, "col": c,
                "token": [names[int(t)] for t in top[li]], "prob": prob[li], "reads": reads}))
    groups = np.concatenate([np.full(p[0].shape[0], i) for i, p in enumerate(per_image)])
    for t, target in enumerate(("colour", "baseline")):
        values = np.concatenate([p[t] for p in per_image])
        mean, lo, hi = bootstrap_ci(values, groups, n_boot=n_boot, seed=seed)
        rows += [(layers[li], "all", target, mean[li], lo[li], hi[li], len(values)) for li in range(len(layers))]
    curves = pd.DataFrame(rows, columns=["layer", "colour", "target", "share", "ci_low", "ci_high", "n_patches"])
    report(progress, 1.0, "Done")
    return PatchLens(curves=curves, grid=pd.concat(grid_rows, ignore_index=True), variants=variants,
                     prompt=prompt, notes=notes)


# ----------------------------------------------------------------------------- appendix C


@dataclass
class CaptionAlignment:
    curves: pd.DataFrame  # layer,target,mean,ci_low,ci_high,n   target: matched|nonmatching|adjusted|hit_at_k
    items: pd.DataFrame  # item,label,hexcode,best_layer,best_patch_token
    lang: str
    top_k: int
    notes: list[str] = field(default_factory=list)


def caption_alignment(
    model: "VisionHandle",
    n: int = 30,
    lang: str = "en",
    top_k: int = 10,
    question: str = "",
    raw: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
    progress: Optional[Progress] = None,
) -> CaptionAlignment:
    """Emoji images read through the lens: is the emoji's own label (the caption noun) more
    likely in some patch than the other emoji's labels? Per layer, with CIs over images."""
    if n < 2:
        raise InputError("At least two emoji are needed (the baseline is the other labels).")
    rows = emoji_items(n, [lang], seed=seed)
    labels = [r[lang] for r in rows]
    tok = model.tokenizer
    label_ids = [[tid for _, tid in word_variants(tok, lab)] for lab in labels]
    all_ids = sorted({t for ids in label_ids for t in ids})
    col = {t: j for j, t in enumerate(all_ids)}
    layers = check_layers(model, None)
    prompt = build_prompt(model, question, chat=bool(question))
    lenses, _ = lens_images(model, [emoji_image(r["hexcode"]) for r in rows], prompt, layers,
                            top_k=top_k, target_ids=all_ids, apply_norm=not raw,
                            progress=scaled(progress, 0.0, 0.95))
    n_img, n_layers = len(rows), len(layers)
    best = np.zeros((n_img, n_img, n_layers))  # [image, label, layer]: max over patches and variants
    hits = np.zeros((n_img, n_layers))
    best_tok = []
    for i, out in enumerate(lenses):
        lp = out.target_logprobs.numpy()  # [n_layers, P, n_ids]
        for j, ids in enumerate(label_ids):
            best[i, j] = lp[:, :, [col[t] for t in ids]].max(axis=(1, 2))
        top = out.top_ids.numpy()  # [n_layers, P, k]
        hits[i] = np.isin(top, label_ids[i]).any(axis=(1, 2))
        li = int(best[i, i].argmax())
        p = int(lp[li][:, [col[t] for t in label_ids[i]]].max(axis=1).argmax())
        best_tok.append((layers[li], tok.decode([int(out.top_ids[li, p, 0])])))
    matched = np.stack([best[i, i] for i in range(n_img)])
    off = (best.sum(axis=1) - matched) / (n_img - 1)
    groups = np.arange(n_img)
    out_rows = []
    for target, values in (("matched", matched), ("nonmatching", off), ("adjusted", matched - off),
                           (f"hit_at_{top_k}", hits)):
        mean, lo, hi = bootstrap_ci(values, groups, n_boot=n_boot, seed=seed)
        out_rows += [(layers[li], target, mean[li], lo[li], hi[li], n_img) for li in range(n_layers)]
    items = pd.DataFrame({"item": [r["en"] for r in rows], "label": labels,
                          "hexcode": [r["hexcode"] for r in rows],
                          "best_layer": [b[0] for b in best_tok],
                          "top1_at_best_patch": [b[1] for b in best_tok]})
    report(progress, 1.0, "Done")
    return CaptionAlignment(curves=pd.DataFrame(out_rows, columns=["layer", "target", "mean", "ci_low", "ci_high", "n"]),
                            items=items, lang=lang, top_k=top_k)


# ----------------------------------------------------------------------------- Fig. 12c


@dataclass
class Replacement:
    generations: pd.DataFrame  # item,left,right,old,new,layer,answer,success,correct_unsteered,changed
    rates: pd.DataFrame  # layer,success_rate,ci_low,ci_high,changed_rate,n
    unsteered_accuracy: float
    norms: dict[int, float]
    prompt: str
    notes: list[str] = field(default_factory=list)


def default_replacement_items(colours: Sequence[str] = PAPER_COLOURS) -> list[tuple[str, str, str]]:
    """Every ordered pair (left, right) of distinct colours, with the new left colour the next
    colour in the list that is in neither half."""
    cols = _check_colours(colours, at_least=3)
    items = []
    for a in cols:
        for b in cols:
            if a != b:
                new = next(c for c in cols[cols.index(a) + 1:] + cols if c not in (a, b))
                items.append((a, b, new))
    return items


def _mentions(answer: str, colour: str) -> bool:
    return re.search(rf"\b{re.escape(colour)}\b", answer.lower()) is not None


def two_colour_replacement(
    model: "VisionHandle",
    items: Optional[Sequence[tuple[str, str, str]]] = None,
    layers: Optional[Sequence[int]] = None,
    side: str = "left",
    strength: float = 1.0,
    scale: str = "residual",
    question: str = DEFAULT_QUESTION,
    max_new_tokens: int = 12,
    batch_size: int = 8,
    progress: Optional[Progress] = None,
) -> Replacement:
    """The two-colour replacement intervention with a layer sweep (Fig. 12c).

    `items`: (left colour, right colour, new colour for the edited half). On the edited half
    (`side`) the old colour is that half's; from layer l to L every image token of that half gets
    s x (W_U[new] - W_U[old]) added in the prompt pass (first token of " new" / " old").
    `scale="raw"`: s = strength (the paper's units; W_U rows are small next to the residual
    stream of most models). `scale="residual"`: the direction is rescaled to `strength` x the
    mean norm of the edited states of that layer. Success: the answer names the new colour and
    the kept colour and not the replaced one.
    """
    import torch

    if side not in ("left", "right"):
        raise InputError("side must be 'left' or 'right'.")
    if scale not in SCALES:
        raise InputError(f"scale must be one of {', '.join(SCALES)}.")
    if not 1 <= max_new_tokens <= 64:
        raise InputError("max_new_tokens must lie in 1..64.")
    items = list(items) if items is not None else default_replacement_items()
    if not items:
        raise InputError("Give at least one (left, right, new) colour triple.")
    for it in items:
        if len(it) != 3 or len(set(_check_colours(it))) != 3:
            raise InputError(f"{it}: each item needs three different colours (left, right, new).")
    top = model.num_layers
    sweep = check_layers(model, layers if layers else sorted({0, top // 4, top // 2, 3 * top // 4, top}))
    tok = model.tokenizer
    prompt = build_prompt(model, question, chat=True)
    images = [split(l, r) for l, r, _ in items]
    old = [(l if side == "left" else r) for l, r, _ in items]
    kept = [(r if side == "left" else l) for l, r, _ in items]
    first = {w: word_variants(tok, w)[0][1] for it in items for w in it}  # first token of " word"
    words = sorted(first)
    rows_of = dict(zip(words, unembedding_rows(model, [first[w] for w in words])))  # W_U rows
    dirs = torch.stack([rows_of[new] - rows_of[o] for (_, _, new), o in zip(items, old)])
    total = len(sweep) + 1
    answers: dict[Any, list[str]] = {}
    norms_acc: dict[int, list[float]] = {}
    step = 0
    for rng in batches(len(items), batch_size):
        inputs = encode(model, [images[i] for i in rng], [prompt] * len(rng))
        cols = image_token_positions(model, inputs["input_ids"])
        width = inputs["input_ids"].shape[1]
        mask = torch.zeros(len(rng), width, 1, dtype=torch.bool)
        for j, c in enumerate(cols):
            rows_, ncol = patch_grid(model, len(c), inputs, j)
            half = [p for k, p in enumerate(c) if ((k % ncol) < ncol / 2) == (side == "left")]
            mask[j, half] = True
        answers.setdefault(None, []).extend(generate_with_edits(model, inputs, {}, max_new_tokens))
        norm_at: dict[int, float] = {}
        if scale == "residual":
            st = capture_states(model, inputs, [torch.nonzero(mask[j, :, 0]).flatten().tolist()
                                                for j in range(len(rng))], list(range(top + 1)))
            per_layer = torch.cat(st).norm(dim=-1).mean(dim=0)  # [L+1]
            norm_at = {l: float(per_layer[l]) for l in range(top + 1)}
            for l, v in norm_at.items():
                norms_acc.setdefault(l, []).append(v)
        d = dirs[list(rng)]
        for l in sweep:
            edits = {}
            for k in range(l, top + 1):
                if scale == "raw":
                    vec = strength * d
                else:
                    vec = strength * norm_at[k] * d / d.norm(dim=-1, keepdim=True).clamp_min(1e-12)
                edits[k] = (mask, vec.unsqueeze(1))
            answers.setdefault(l, []).extend(generate_with_edits(model, inputs, edits, max_new_tokens))
            step += 1
            report(progress, step / (total * len(batches(len(items), batch_size))),
                   f"Layer {l}: {len(answers[l])}/{len(items)} items")
    base = answers[None]
    correct = [_mentions(a, l) and _mentions(a, r) for a, (l, r, _) in zip(base, items)]
    gen_rows = []
    for l in sweep:
        for i, ((left, right, new), ans) in enumerate(zip(items, answers[l])):
            ok = _mentions(ans, new) and _mentions(ans, kept[i]) and not _mentions(ans, old[i])
            gen_rows.append((i, left, right, old[i], new, l, ans, ok, correct[i], ans != base[i]))
    for i, ((left, right, new), ans) in enumerate(zip(items, base)):
        gen_rows.append((i, left, right, old[i], new, -1, ans, False, correct[i], False))
    gens = pd.DataFrame(gen_rows, columns=["item", "left", "right", "old", "new", "layer", "answer",
                                           "success", "correct_unsteered", "changed"])
    rate_rows = []
    for l in sweep:
        g = gens[gens.layer == l]
        mean, lo, hi = bootstrap_ci(g["success"].to_numpy(float), np.arange(len(g)), n_boot=1000, seed=0)
        rate_rows.append((l, float(mean[0]), float(lo[0]), float(hi[0]), float(g["changed"].mean()), len(g)))
    rates = pd.DataFrame(rate_rows, columns=["layer", "success_rate", "ci_low", "ci_high", "changed_rate", "n"])
    notes = [f"Unsteered, the model names both colours for {sum(correct)}/{len(items)} images "
             "(layer -1 rows in the generations)."]
    report(progress, 1.0, "Done")
    return Replacement(generations=gens, rates=rates, unsteered_accuracy=float(np.mean(correct)),
                       norms={l: float(np.mean(v)) for l, v in norms_acc.items()}, prompt=prompt,
                       notes=notes)


# ----------------------------------------------------------------------------- uploads


def image_lens(
    model: "VisionHandle",
    data: bytes,
    name: str = "upload",
    question: str = "",
    raw: bool = False,
    progress: Optional[Progress] = None,
) -> pd.DataFrame:
    """Top-1 lens token of every image token of an uploaded image at every layer:
    `layer,row,col,token,prob` (the patch grid drawn over the image)."""
    image = load_image(data, name)
    layers = check_layers(model, None)
    prompt = build_prompt(model, question, chat=bool(question))
    lenses, grids = lens_images(model, [image], prompt, layers, top_k=1, apply_norm=not raw,
                                progress=progress)
    out = lenses[0]
    top = out.top_ids[:, :, 0].numpy()
    prob = out.top_logprobs[:, :, 0].exp().numpy()
    names = {int(t): model.tokenizer.decode([int(t)]) for t in np.unique(top)}
    r, c = np.divmod(np.arange(top.shape[1]), grids[0]["cols"])
    return pd.concat([pd.DataFrame({"layer": layers[li], "row": r, "col": c,
                                    "token": [names[int(t)] for t in top[li]], "prob": prob[li]})
                      for li in range(len(layers))], ignore_index=True)
