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

- `image_lens`: the top-k lens tokens of every image token of one image (an upload, a file or a
  solid colour) at every layer or one: the Vision page's lens of the user's own image.

Layer convention: 0 = the language model's input (image features merged in), i = output of
block i, L = last block. Each function is registered (`vision similarity|lens|align|replace|
image-lens`), serves the Vision page and the CLI, and returns a `Result`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

import numpy as np
import pandas as pd

from ..errors import InputError
from ..lens import word_variants
from ..progress import Progress, report, scaled
from ..similarity import METRICS, pair_similarity
from ..stats import bootstrap_ci
from ..steering.vectors import unembedding_rows
from ..trace import check_layers
from ..models.spec import SPEC_SYNTAX
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
from .items_lens import layer_curves
from .multilingual import bootstrap_params
from .lens_param import LENS, logit_only
from .registry import Param, experiment, group, read_input
from .result import Result, Table, result

if TYPE_CHECKING:
    from ..models.vision import VisionHandle

# The experiments, and the model-spec syntax and images the Vision page shows (re-exported:
# pages import only experiments, data, errors and app helpers).
__all__ = [
    "COLOURS", "DEFAULT_QUESTION", "ITEM_KINDS", "PAPER_COLOURS", "SCALES", "SPEC_SYNTAX",
    "caption_alignment", "default_replacement_items", "default_sweep", "image_caption_similarity",
    "image_lens", "load_image", "open_image", "parse_items", "patch_lens", "solid", "thumbnail_png",
    "two_colour_replacement",
]

group("vision", "vision-language models (paper §3.5, Fig. 11-12c); bring your own")

ITEM_KINDS = ("colours", "emoji")
DEFAULT_QUESTION = "What colors are in this image?"
SCALES = ("raw", "residual")
LABEL_LANGS = ("en", "es", "zh", "fr")  # emoji label languages the page offers (the CLI takes any)
SIM_COLUMNS = ("layer", "metric", "matched", "baseline", "adjusted", "ci_low", "ci_high", "retrieval_at_1")
PATCH_COLUMNS = ("layer", "colour", "target", "share", "ci_low", "ci_high", "n_patches")
GRID_COLUMNS = ("colour", "layer", "row", "col", "token", "prob", "reads")
ALIGN_COLUMNS = ("layer", "target", "mean", "ci_low", "ci_high", "n")
GEN_COLUMNS = ("item", "left", "right", "old", "new", "layer", "answer", "success", "correct_unsteered",
               "changed")
RATE_COLUMNS = ("layer", "success_rate", "ci_low", "ci_high", "changed_rate", "n")
IMAGE_LENS_COLUMNS = ("layer", "row", "col", "rank", "token", "prob")
STATS = bootstrap_params(seed_help="random seed (bootstrap; for emoji also the sample)")  # --bootstrap, --seed


RAW = Param("raw", "skip the final norm", switch=True)


def _check_colours(colours: Sequence[str], at_least: int = 1) -> list[str]:
    out = list(dict.fromkeys(c.strip().lower() for c in colours if c.strip()))
    unknown = [c for c in out if c not in COLOURS]
    if unknown:
        raise InputError(f"Unknown colour(s) {', '.join(unknown)}: choose from {', '.join(COLOURS)}.")
    if len(out) < at_least:
        raise InputError(f"Pick at least {at_least} colour(s).")
    return out


# ----------------------------------------------------------------------------- Fig. 11a


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


@experiment(
    name="vision similarity",
    summary="image vs caption per layer (Fig. 11a)",
    description="Image (mean over its image tokens) vs caption (mean over its tokens, text only), "
                "matched minus non-matching per layer. Writes layer,metric,matched,baseline,adjusted,"
                "ci_low,ci_high,retrieval_at_1.",
    page="vision",
    kind="vision",
    tables=(Table("curves", SIM_COLUMNS, "matched - non-matching cosine per layer"),
            Table("items", ("item", "caption", "hexcode"), "the images and their captions")),
    params=(Param("images", "solid colours (caption: the colour word) or emoji (caption: its label)",
                  choices=ITEM_KINDS, arg="kind"),
            Param("n", "emoji sampled", type=int, low=2, high=2000),
            Param("lang", "emoji label language (en, es, zh, fr, ...)"),
            *STATS),
)
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
) -> Result:
    """Image (mean over its image tokens) vs caption (mean over its tokens) per layer (Fig. 11a).

    Tables `curves` and `items`; value `prompt` (what the image ran with)."""
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
    return result("vision similarity", {"curves": curves, "items": items}, prompt=prompt)


# ----------------------------------------------------------------------------- Fig. 11b


def _variant_table(model: "VisionHandle", words: Sequence[str]) -> pd.DataFrame:
    rows = [(w, v, model.tokenizer.decode([tid]), tid)
            for w in words for v, tid in word_variants(model.tokenizer, w)]
    return pd.DataFrame(rows, columns=["word", "variant", "token", "token_id"])


def patch_tokens(model: "VisionHandle", out: Any, layers: Sequence[int], ncols: int) -> pd.DataFrame:
    """One image's lens as a long table, `layer,row,col,rank,token,prob`: one row per (layer,
    patch, rank), layer by layer and patch by patch in reading order (the grid drawn over the
    image). Each distinct token id is decoded once."""
    ids = out.top_ids.numpy()  # [n_layers, P, k]
    probs = out.top_logprobs.exp().numpy()
    n_layers, n_patches, k = ids.shape
    names = {int(t): model.tokenizer.decode([int(t)]) for t in np.unique(ids)}
    row, col = np.divmod(np.tile(np.repeat(np.arange(n_patches), k), n_layers), ncols)
    return pd.DataFrame({"layer": np.repeat(np.asarray(list(layers)), n_patches * k), "row": row, "col": col,
                         "rank": np.tile(np.arange(1, k + 1), n_layers * n_patches),
                         "token": [names[int(t)] for t in ids.reshape(-1)], "prob": probs.reshape(-1)})


@experiment(
    name="vision lens",
    summary="per-patch logit lens on colour images (Fig. 11b)",
    description="Share of image patches whose top-1 lens token is the colour word vs the baseline "
                "word, per layer. Writes layer,colour,target,share,ci_low,ci_high,n_patches (target "
                "in {colour, baseline}; colour 'all' pools images); the patch grid (colour,layer,row,"
                "col,token,prob,reads) goes to --grid, else beside --out.",
    page="vision",
    kind="vision",
    tables=(Table("curves", PATCH_COLUMNS, "share of patches reading the colour / baseline word per layer"),
            Table("grid", GRID_COLUMNS, "top-1 lens token of every patch at every layer"),
            Table("variants", ("word", "variant", "token", "token_id"), "the token variants counted")),
    params=(Param("colours", "solid-colour images", many="nargs", choices=tuple(COLOURS)),
            Param("baseline", "a colour word absent from the images", choices=tuple(COLOURS)),
            Param("grid", "also write the patch grid (colour,layer,row,col,token,prob,reads) to this CSV",
                  arg="", metavar="FILE"),
            RAW, *STATS, LENS),
    extra_outputs=("grid",),
)
def patch_lens(
    model: "VisionHandle",
    colours: Sequence[str] = PAPER_COLOURS,
    baseline: str = "white",
    question: str = "",
    raw: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
    progress: Optional[Progress] = None,
    lens: str = "logit",
) -> Result:
    """Share of image patches whose top-1 lens token is the colour word vs `baseline`, per layer.

    CIs: per colour, patches resampled; for "all", images resampled (patches of one image come
    along together). Tables `curves`, `grid` (each patch's top-1 token and its probability at
    every layer) and `variants`; value `prompt`.
    """
    logit_only(lens, "The vision lens", "`tune-lens` trains translators for text models only, and "
               "the patchscope is not wired to vision-language models yet")
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
    rows, grid_rows = [], []
    per_image: list[tuple[np.ndarray, np.ndarray]] = []
    for colour, out, g in zip(cols, lenses, grids):
        top = out.top_ids[:, :, 0].numpy()  # [n_layers, P]
        is_c = np.isin(top, list(ids_of[colour]))
        is_b = np.isin(top, list(ids_of[baseline]))
        per_image.append((is_c.T.astype(float), is_b.T.astype(float)))  # [P, n_layers]
        for target, hits in (("colour", is_c), ("baseline", is_b)):
            mean, lo, hi = bootstrap_ci(hits.T.astype(float), np.arange(hits.shape[1]), n_boot=n_boot, seed=seed)
            rows += [(layers[li], colour, target, mean[li], lo[li], hi[li], hits.shape[1])
                     for li in range(len(layers))]
        reads = np.where(is_c, "colour", np.where(is_b, "baseline", "other")).reshape(-1)
        grid_rows.append(patch_tokens(model, out, layers, g["cols"]).assign(colour=colour, reads=reads))
    groups = np.concatenate([np.full(p[0].shape[0], i) for i, p in enumerate(per_image)])
    for t, target in enumerate(("colour", "baseline")):
        values = np.concatenate([p[t] for p in per_image])
        mean, lo, hi = bootstrap_ci(values, groups, n_boot=n_boot, seed=seed)
        rows += [(layers[li], "all", target, mean[li], lo[li], hi[li], len(values)) for li in range(len(layers))]
    curves = pd.DataFrame(rows, columns=list(PATCH_COLUMNS))
    grid = pd.concat(grid_rows, ignore_index=True)[list(GRID_COLUMNS)]
    report(progress, 1.0, "Done")
    return result("vision lens", {"curves": curves, "grid": grid, "variants": variants}, notes, prompt=prompt)


# ----------------------------------------------------------------------------- appendix C


@experiment(
    name="vision align",
    summary="emoji images vs their labels through the lens (appendix C)",
    description="Emoji images read through the lens: the best log p over patches of each emoji's "
                "own label vs the other labels, per layer. Writes layer,target,mean,ci_low,ci_high,n "
                "(target in {matched, nonmatching, adjusted, hit_at_K}).",
    page="vision",
    kind="vision",
    tables=(Table("curves", ALIGN_COLUMNS, "own label vs the other labels per layer, with 95% CIs"),
            Table("items", ("item", "label", "hexcode", "best_layer", "top1_at_best_patch"),
                  "the emoji and where their label reads best")),
    params=(Param("n", "emoji sampled", type=int, low=2, high=2000),
            Param("lang", "emoji label language (en, es, zh, fr, ...)"),
            Param("top_k", "lens tokens per patch for hit@k", type=int, low=1, high=50),
            RAW, *STATS),
)
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
) -> Result:
    """Emoji images read through the lens: is the emoji's own label (the caption noun) more
    likely in some patch than the other emoji's labels? Per layer, with CIs over images (the
    shared items-lens summary). Tables `curves`, `items`; values `lang`, `top_k`."""
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
    curves = layer_curves({"matched": matched, "nonmatching": off, "adjusted": matched - off,
                           f"hit_at_{top_k}": hits}, np.arange(n_img), layers, n_boot, seed, value="mean")
    items = pd.DataFrame({"item": [r["en"] for r in rows], "label": labels,
                          "hexcode": [r["hexcode"] for r in rows],
                          "best_layer": [b[0] for b in best_tok],
                          "top1_at_best_patch": [b[1] for b in best_tok]})
    report(progress, 1.0, "Done")
    return result("vision align", {"curves": curves, "items": items}, lang=lang, top_k=top_k)


# ----------------------------------------------------------------------------- Fig. 12c


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


def _check_item(item: Sequence[str]) -> tuple[str, str, str]:
    if len(item) != 3 or len(set(_check_colours(item))) != 3:
        raise InputError(f"{tuple(item)}: each item needs three different colours (left, right, new).")
    return (item[0], item[1], item[2])


def parse_items(texts: Optional[Sequence[str]]) -> Optional[list[tuple[str, str, str]]]:
    """`LEFT,RIGHT,NEW` strings (the CLI's --items) -> checked colour triples; None when none given."""
    if not texts:
        return None
    out = []
    for text in texts:
        parts = tuple(p.strip() for p in text.split(","))
        if len(parts) != 3:
            raise InputError(f"--items '{text}': write LEFT,RIGHT,NEW, e.g. red,green,blue.")
        out.append(_check_item(parts))
    return out


def default_sweep(model: "VisionHandle") -> list[int]:
    """The first edited layers swept when none are given: 0, L/4, L/2, 3L/4 and L."""
    top = model.num_layers
    return sorted({0, top // 4, top // 2, 3 * top // 4, top})


def _replacement_inputs(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Parse and check the --items triples before the model loads."""
    kwargs = {k: v for k, v in values.items() if k != "items"}
    kwargs["items"] = parse_items(values.get("items"))
    kwargs["layers"] = values.get("layers") or None
    return kwargs, []


def _mentions(answer: str, colour: str) -> bool:
    return re.search(rf"\b{re.escape(colour)}\b", answer.lower()) is not None


@experiment(
    name="vision replace",
    summary="two-colour replacement with a layer sweep (Fig. 12c)",
    description="Adds s x (W_U[new] - W_U[old]) to one half's image tokens from layer l on and asks "
                "for the colours. Writes the generations per (item, layer) to --out (item,left,right,"
                "old,new,layer,answer,success,correct_unsteered,changed; layer -1 = unsteered) and "
                "success rates to <out>_rates.csv (layer,success_rate,ci_low,ci_high,changed_rate,n).",
    page="vision",
    kind="vision",
    tables=(Table("generations", GEN_COLUMNS, "one answer per item and first edited layer"),
            Table("rates", RATE_COLUMNS, "success rate per first edited layer, with 95% CIs")),
    params=(Param("items", "LEFT,RIGHT,NEW colour triples (default: every ordered pair of the paper's "
                           "colours)", many="nargs", metavar="LEFT,RIGHT,NEW"),
            Param("layers", "first edited layers (default: 0, L/4, L/2, 3L/4, L)", type=int, many="nargs"),
            Param("side", "the edited half", choices=("left", "right")),
            Param("strength", "push strength (raw units, or x the states' mean norm for --scale "
                              "residual)", type=float, low=-100, high=100),
            Param("scale", "raw = the paper's units; residual = relative to the edited states' norm",
                  choices=SCALES),
            Param("max_new_tokens", "answer length in tokens", type=int, low=1, high=64)),
    prepare=_replacement_inputs,
)
def two_colour_replacement(
    model: "VisionHandle",
    items: Optional[Sequence[tuple[str, str, str]]] = None,
    layers: Optional[Sequence[int]] = None,
    side: str = "left",
    strength: float = 0.5,
    scale: str = "residual",
    question: str = DEFAULT_QUESTION,
    max_new_tokens: int = 12,
    batch_size: int = 8,
    progress: Optional[Progress] = None,
) -> Result:
    """The two-colour replacement intervention with a layer sweep (Fig. 12c): tables
    `generations` (layer -1 = unsteered) and `rates`; values `unsteered_accuracy`, `norms` (mean
    norm of the edited states per layer) and `prompt`.

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
    items = [_check_item(it) for it in items]
    top = model.num_layers
    sweep = check_layers(model, layers if layers else default_sweep(model))
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
    gens = pd.DataFrame(gen_rows, columns=list(GEN_COLUMNS))
    rate_rows = []
    for l in sweep:
        g = gens[gens.layer == l]
        mean, lo, hi = bootstrap_ci(g["success"].to_numpy(float), np.arange(len(g)), n_boot=1000, seed=0)
        rate_rows.append((l, float(mean[0]), float(lo[0]), float(hi[0]), float(g["changed"].mean()), len(g)))
    rates = pd.DataFrame(rate_rows, columns=list(RATE_COLUMNS))
    notes = [f"Unsteered, the model names both colours for {sum(correct)}/{len(items)} images "
             "(layer -1 rows in the generations)."]
    report(progress, 1.0, "Done")
    return result("vision replace", {"generations": gens, "rates": rates}, notes,
                  unsteered_accuracy=float(np.mean(correct)),
                  norms={l: float(np.mean(v)) for l, v in norms_acc.items()}, prompt=prompt)


# ----------------------------------------------------------------------------- one image


ImageSource = Union[str, bytes]


def open_image(image: ImageSource, name: str = "") -> Any:
    """An RGB image from upload bytes, a colour name (a solid image) or an image file's path;
    anything else is one sentence."""
    if isinstance(image, (bytes, bytearray)):
        return load_image(bytes(image), name or "upload")
    if image.strip().lower() in COLOURS:
        return solid(image.strip().lower())
    path = Path(image).expanduser()
    if not path.is_file():
        raise InputError(f"'{image}' is neither an image file nor a colour name ({', '.join(COLOURS)}).")
    return load_image(read_input(str(path)), name or path.name)


def _image_inputs(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Open the image once before the model loads, so a bad file costs no model load."""
    open_image(values["image"])
    return {k: v for k, v in values.items()}, []


@experiment(
    name="vision image-lens",
    summary="per-patch logit lens of one image (a file or a solid colour)",
    description="The top-k lens tokens of every image token of one image at every layer (or "
                "--layer): what the Vision page draws over your own image. Writes layer,row,col,rank,"
                "token,prob (row, col: the patch's place in the image grid).",
    page="vision",
    kind="vision",
    tables=(Table("patches", IMAGE_LENS_COLUMNS, "top-k lens tokens of every patch per layer"),),
    params=(Param("image", "an image file (PNG, JPEG, GIF, WebP, BMP) or a colour name (red, green, ...)",
                  required=True, metavar="FILE|COLOUR"),
            Param("layer", "read only this layer (default: every layer)", type=int, low=0, high=1000),
            Param("top_k", "lens tokens per patch", type=int, low=1, high=20),
            RAW),
    prepare=_image_inputs,
)
def image_lens(
    model: "VisionHandle",
    image: ImageSource,
    name: str = "",
    layer: Optional[int] = None,
    top_k: int = 1,
    question: str = "",
    raw: bool = False,
    progress: Optional[Progress] = None,
) -> Result:
    """Top-k lens tokens of every image token of one image (upload bytes, a file or a colour name)
    at every layer, or only `layer`: table `patches` = `layer,row,col,rank,token,prob` (the patch
    grid drawn over the image); values `rows`, `cols` (the grid) and `prompt`."""
    picture = open_image(image, name)
    layers = check_layers(model, None if layer is None else [layer])
    prompt = build_prompt(model, question, chat=bool(question))
    lenses, grids = lens_images(model, [picture], prompt, layers, top_k=top_k, apply_norm=not raw,
                                progress=progress)
    patches = patch_tokens(model, lenses[0], layers, grids[0]["cols"])
    return result("vision image-lens", {"patches": patches}, rows=int(grids[0]["rows"]),
                  cols=int(grids[0]["cols"]), prompt=prompt)
