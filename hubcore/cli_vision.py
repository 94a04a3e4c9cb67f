"""`python -m hubcore vision {similarity,lens,align,replace} --model SPEC --out FILE`.

The Vision page's experiments, headless. No VLM ships with the app, so --model is required: a
Hugging Face hub id in the local HF cache or a local model folder. The model loads through the
shared registry (`ModelSpec(kind="vision")`); `--remote local|ndif|URL` runs every trace through
the remote path.
"""

from __future__ import annotations

import argparse
from typing import Any

from .cli import _add_model_args, _check_out, _load, _note, _run, _write, _write_with_rates
from .errors import HubError


def _load_vlm(args: argparse.Namespace) -> Any:
    """The VLM named by --model, through the shared registry (`ModelSpec(kind="vision")`)."""
    from .models.vision import NO_MODEL

    if not args.model:
        raise HubError(NO_MODEL + " Pass it with --model.")
    return _load(args, kind="vision")


def _triples(values: list[str]) -> list[tuple[str, str, str]]:
    out = []
    for v in values:
        parts = tuple(p.strip() for p in v.split(","))
        if len(parts) != 3:
            raise HubError(f"--items '{v}': write LEFT,RIGHT,NEW, e.g. red,green,blue.")
        out.append(parts)
    return out


def cmd_vision(args: argparse.Namespace) -> int:
    from .experiments import vision as vx

    _check_out(args.out)
    items = _triples(args.items) if getattr(args, "items", None) else None
    model = _load_vlm(args)
    if args.vision_command == "similarity":
        rep = _run("Image vs caption", vx.image_caption_similarity, model, kind=args.images,
                   n=args.n, lang=args.lang, n_boot=args.bootstrap, seed=args.seed)
        _write(rep.curves, args.out)
    elif args.vision_command == "lens":
        rep = _run("Patch lens", vx.patch_lens, model, colours=args.colours, baseline=args.baseline,
                   raw=args.raw, n_boot=args.bootstrap, seed=args.seed)
        _note(rep.notes)
        _write(rep.curves, args.out)
        if args.grid:
            _write(rep.grid, args.grid)
    elif args.vision_command == "align":
        rep = _run("Caption nouns", vx.caption_alignment, model, n=args.n, lang=args.lang,
                   top_k=args.top_k, raw=args.raw, n_boot=args.bootstrap, seed=args.seed)
        _write(rep.curves, args.out)
    else:
        rep = _run("Two-colour replacement", vx.two_colour_replacement, model, items=items,
                   layers=args.layers or None, side=args.side, strength=args.strength,
                   scale=args.scale, max_new_tokens=args.max_new_tokens)
        _note(rep.notes)
        _write_with_rates(rep.generations, rep.rates, args.out)
    return 0


def register(sub: Any) -> None:
    from .vision.images import COLOURS, PAPER_COLOURS

    p = sub.add_parser("vision", help="vision-language models (paper §3.5, Fig. 11-12c); bring your own",
                       description="Vision experiments on a VLM you supply with --model (a hub id in "
                                   "the local HF cache or a local folder; none ships with the app).")
    vsub = p.add_subparsers(dest="vision_command", metavar="EXPERIMENT")
    vsub.required = True
    v1 = vsub.add_parser("similarity", help="image vs caption per layer (Fig. 11a)",
                         description="Writes layer,metric,matched,baseline,adjusted,ci_low,ci_high,"
                                     "retrieval_at_1.")
    v1.add_argument("--images", default="colours", choices=["colours", "emoji"])
    v1.add_argument("--n", type=int, default=40, help="emoji sampled (default: 40)")
    v1.add_argument("--lang", default="en", help="emoji label language (en, es, zh, fr, ...)")
    v2 = vsub.add_parser("lens", help="per-patch logit lens on colour images (Fig. 11b)",
                         description="Writes layer,colour,target,share,ci_low,ci_high,n_patches "
                                     "(target in {colour, baseline}; colour 'all' pools images).")
    v2.add_argument("--colours", nargs="+", default=list(PAPER_COLOURS), choices=list(COLOURS))
    v2.add_argument("--baseline", default="white", choices=list(COLOURS))
    v2.add_argument("--grid", help="also write the patch grid (colour,layer,row,col,token,prob,reads)")
    v3 = vsub.add_parser("align", help="emoji images vs their labels through the lens (appendix C)",
                         description="Writes layer,target,mean,ci_low,ci_high,n (target in {matched, "
                                     "nonmatching, adjusted, hit_at_K}).")
    v3.add_argument("--n", type=int, default=30, help="emoji sampled (default: 30)")
    v3.add_argument("--lang", default="en")
    v3.add_argument("--top-k", type=int, default=10)
    for v_ in (v2, v3):
        v_.add_argument("--raw", action="store_true", help="skip the final norm")
    v4 = vsub.add_parser("replace", help="two-colour replacement with a layer sweep (Fig. 12c)",
                         description="Writes generations per (item, layer) to --out and success "
                                     "rates to <out>_rates.csv (layer,success_rate,ci_low,ci_high,"
                                     "changed_rate,n).")
    v4.add_argument("--items", nargs="+", help="LEFT,RIGHT,NEW triples (default: the paper's colours)")
    v4.add_argument("--layers", type=int, nargs="+", default=[], help="first edited layers (default: 0, L/4, L/2, 3L/4, L)")
    v4.add_argument("--side", default="left", choices=["left", "right"])
    v4.add_argument("--strength", type=float, default=0.5)
    v4.add_argument("--scale", default="residual", choices=["raw", "residual"])
    v4.add_argument("--max-new-tokens", type=int, default=12)
    for v_ in (v1, v2, v3, v4):
        if v_ is not v4:
            v_.add_argument("--bootstrap", type=int, default=1000)
            v_.add_argument("--seed", type=int, default=0)
        v_.add_argument("--out", required=True, help="CSV file to write")
        _add_model_args(v_, kind="vision")
        for action in v_._actions:  # checked in _load_vlm: the missing model gets our sentence
            if action.dest == "model":
                action.required = False
        v_.set_defaults(func=cmd_vision, model=None)
