"""`python -m hubcore steer` and `python -m hubcore sweep`: ActAdd from the command line.

Both call `hubcore.experiments.actadd.steer`, the function behind the Steering page.
`steer` is one setting (one pair, layer, coefficient); `sweep` is a grid of pairs x layers x
coefficients over a prompt set, written as generations plus a `<out>_summary.csv` table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .cli import _add_model_args, _check_out, _load, _note, _read_file, _run, _write
from .errors import HubError

ROW_ORDER = ["prompt", "layer", "coef", "seed", "continuation", "sentiment", "perplexity",
             "relevance", "in_language", "pair", "positive", "negative", "new_tokens"]


def _floats(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of numbers") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one number")
    return values


def _ints(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of integers") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one integer")
    return values


def _generation_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("generation (defaults: the paper's settings)")
    g.add_argument("--instruction", default=None,
                   help="instruction line put before every prompt; default: 'All of the following "
                        "text is in <language>:' (none for English); '' = no instruction")
    g.add_argument("--greedy", action="store_true",
                   help="plain greedy decoding: argmax, no sampling, no frequency penalty unless "
                        "--frequency-penalty is given (seeds then do not matter)")
    g.add_argument("--max-new-tokens", type=int, default=32, help="new tokens per continuation (default 32)")
    g.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1)")
    g.add_argument("--top-p", type=float, default=0.3, help="nucleus sampling mass (default 0.3)")
    g.add_argument("--frequency-penalty", type=float, default=None,
                   help="logit penalty per earlier occurrence of a token (default 1; 0 with --greedy)")
    g.add_argument("--seeds", type=int, default=1, help="sampling seeds 0..K-1 per prompt (default 1)")
    g.add_argument("--norm-preserving", action="store_true",
                   help="rescale each steered state to its original norm (direction-only steering)")
    g.add_argument("--lang", default="auto", choices=["auto", "en", "es", "zh"],
                   help="language of the prompts: picks the sentiment scorer and the default "
                        "instruction (default: detected from the prompts)")
    g.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for CIs (default 1000)")


def _prompts(args: argparse.Namespace) -> list[str]:
    from .data.steering_prompts import prompt_set
    from .data.uploads import parse_texts

    prompts = list(args.prompt or [])
    if getattr(args, "prompts_file", None):
        texts, notes = parse_texts(_read_file(args.prompts_file), Path(args.prompts_file).name)
        _note(notes)
        prompts += texts
    if getattr(args, "prompt_set", None):
        prompts += prompt_set(args.prompt_set, args.n, seed=0)
    if not prompts:
        raise HubError("Give prompts with --prompt TEXT" + (", --prompts-file FILE or --prompt-set NAME."
                                                            if hasattr(args, "prompt_set") else "."))
    return prompts


def _settings(args: argparse.Namespace, prompts: list[str]) -> dict[str, Any]:
    from .experiments.actadd import Generation, detect_language

    if args.seeds < 1 or args.seeds > 100:
        raise HubError("--seeds must be between 1 and 100.")
    generation = Generation(max_new_tokens=args.max_new_tokens, greedy=args.greedy,
                            temperature=args.temperature, top_p=args.top_p,
                            frequency_penalty=(args.frequency_penalty if args.frequency_penalty is not None
                                               else 0.0 if args.greedy else 1.0))
    generation.check()
    lang = detect_language(prompts) if args.lang == "auto" else args.lang
    return {"lang": lang, "generation": generation, "instruction": args.instruction,
            "seeds": tuple(range(args.seeds)), "norm_preserving": args.norm_preserving,
            "n_boot": args.bootstrap}


def _ordered(rows: Any) -> Any:
    return rows[ROW_ORDER]


def cmd_steer(args: argparse.Namespace) -> int:
    from .experiments.actadd import Pair, steer

    _check_out(args.out)
    prompts = _prompts(args)
    settings = _settings(args, prompts)
    model = _load(args)
    layer = args.layer if args.layer is not None else _default_layer(model)
    pair = Pair(args.positive, args.negative)
    rep = _run("Steering", steer, model, prompts=tuple(prompts), pairs=(pair,), layers=(layer,),
               coefs=(args.coef,), **settings)
    print(f"language: {rep.lang}; sentiment scorer: {rep.scorer}; layer {layer}", file=sys.stderr)
    _note(rep.notes)
    _write(_ordered(rep.rows), args.out)
    return 0


def _default_layer(model: Any) -> int:
    from .experiments.actadd import default_layer

    return default_layer(model)


def cmd_sweep(args: argparse.Namespace) -> int:
    from .experiments.actadd import Pair, best_setting, preset, steer

    _check_out(args.out)
    prompts = _prompts(args)
    settings = _settings(args, prompts)
    pairs = [preset(code.strip()) for code in args.presets.split(",") if code.strip()] if args.presets else []
    for spec in args.pair or []:
        if ":" not in spec:
            raise HubError(f"--pair '{spec}' must look like POSITIVE:NEGATIVE.")
        pos, neg = spec.split(":", 1)
        pairs.append(Pair(pos, neg))
    if not pairs:
        raise HubError("Give steering pairs with --presets en,es,zh or --pair POSITIVE:NEGATIVE.")
    model = _load(args)
    layers = args.layers or [_default_layer(model)]
    rep = _run("Sweep", steer, model, prompts=tuple(prompts), pairs=tuple(pairs), layers=tuple(layers),
               coefs=tuple(args.coefs), **settings)
    print(f"language: {rep.lang}; sentiment scorer: {rep.scorer}; {len(prompts)} prompts", file=sys.stderr)
    _note(rep.notes)
    out = Path(args.out)
    _write(_ordered(rep.rows), str(out))
    _write(rep.summary, str(out.with_name(out.stem + "_summary" + out.suffix)))
    for direction, word in ((1.0, "positive"), (-1.0, "negative")):
        best = best_setting(rep.summary, direction)
        if best:
            print(f"largest {word} shift with perplexity within 2x of unsteered: {best['pair']}, "
                  f"layer {best['layer']}, coef {best['coef']:g}: shift {best['shift']:+.3f}", file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    """Add `steer` and `sweep` to the CLI."""
    p = sub.add_parser("steer", help="ActAdd one steering pair at one layer/coefficient (paper §4)",
                       description="Add coef x (h_layer(positive) - h_layer(negative)) at the first "
                                   "prompt positions and generate; one row per (prompt, coef, seed) "
                                   "with sentiment, perplexity (fluency) and relevance.")
    p.add_argument("--prompt", action="append", help="a prompt (repeat for several)")
    p.add_argument("--prompts-file", help="one prompt per line (UTF-8 text/CSV)")
    p.add_argument("--positive", default="Good", help="steer towards this text (default: Good)")
    p.add_argument("--negative", default="Bad", help="steer away from this text (default: Bad)")
    p.add_argument("--layer", type=int, default=None, help="layer 0..L (default: about the middle)")
    p.add_argument("--coef", type=float, default=5.0, help="coefficient (default 5, the paper's)")
    _generation_args(p)
    p.add_argument("--out", required=True, help="CSV file to write")
    _add_model_args(p)
    p.set_defaults(func=cmd_steer)

    p = sub.add_parser("sweep", help="ActAdd over pairs x layers x coefficients, scored (Table 1)",
                       description="Steer a prompt set with several pairs at several layers and "
                                   "coefficients in batched generation; writes every generation to "
                                   "--out and mean sentiment/perplexity/relevance with 95%% CIs per "
                                   "(pair, layer, coef) to <out>_summary.csv.")
    p.add_argument("--prompt", action="append", help="a prompt (repeat for several)")
    p.add_argument("--prompts-file", help="one prompt per line (UTF-8 text/CSV)")
    p.add_argument("--prompt-set", choices=["es-prefixes", "zh-reviews", "en-prefixes"],
                   help="a bundled prompt set")
    p.add_argument("--n", type=int, default=8, help="prompts drawn from --prompt-set (default 8)")
    p.add_argument("--presets", default="en,es",
                   help="preset pairs by language: en=Good/Bad, es=Bueno/Malo, zh=好/坏 (default en,es)")
    p.add_argument("--pair", action="append", help="a user pair POSITIVE:NEGATIVE (repeatable)")
    p.add_argument("--layers", type=_ints, default=None, help="comma-separated layers (default: the middle)")
    p.add_argument("--coefs", type=_floats, default=[-8.0, -4.0, 0.0, 4.0, 8.0],
                   help="comma-separated coefficients (default -8,-4,0,4,8); write --coefs=-8,0,8 "
                        "with '=' when the list starts with a minus sign")
    _generation_args(p)
    p.add_argument("--out", required=True, help="CSV file to write (summary beside it)")
    _add_model_args(p)
    p.set_defaults(func=cmd_sweep)
