"""Commands that are not experiments: prepare the embedded models, list model specs and families,
list the experiments."""

from __future__ import annotations

import argparse
import sys

from .options import ProgressBar


def cmd_prepare(args: argparse.Namespace) -> int:
    from ..models.default import default_model_dir

    from ..models.whisper_base import whisper_base_dir

    bar = ProgressBar("Preparing the default model")
    try:
        path = default_model_dir(progress=bar)
    finally:
        bar.close()
    print(f"default model ready: {path}", file=sys.stderr)
    bar = ProgressBar("Preparing the audio model")
    try:
        path = whisper_base_dir(progress=bar)
    finally:
        bar.close()
    print(f"audio model (Whisper base) ready: {path}", file=sys.stderr)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from ..models import TESTED_FAMILIES

    print("Model specs: 'default' | <hub id, e.g. google/gemma-2-2b> | <local dir> | <file.gguf>")
    print("\nDecoder LM families tested with tiny random models (capture, lens, renaming):")
    for family, note in TESTED_FAMILIES.items():
        print(f"  {family:<12} {note}")
    print("\nOther decoder LMs work when the app finds their embeddings, blocks, final norm and")
    print("LM head (or you name them: --rename layers=PATH,ln_final=PATH,lm_head=PATH,embed=PATH);")
    print("this is checked when the model loads, and the lens is verified against the model's")
    print("own logits (shown as 'lens check' on the model card).")
    print("\nRemote runs: --remote local (dry run of the NDIF path here), --remote ndif (key from")
    print("NDIF_API_KEY; hub ids NDIF hosts, e.g. meta-llama/Llama-3.1-8B), --remote https://... ")
    print("(a self-hosted NDIF). See docs/scale.md.")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from ..experiments.registry import load_all

    exps = load_all()
    width = max(len(e.name) for e in exps.values())
    for exp in exps.values():
        print(f"{exp.name:<{width}}  {exp.summary}  [page: /{exp.page}]")
    return 0




def cmd_demo_bundle(args: argparse.Namespace) -> int:
    """Precompute every page's default results on the embedded models (for a talk)."""
    from ..demo_bundle import build, bundle_dir, describe

    if args.list:
        entries = describe()
        if not entries:
            print("no demo bundle yet: run `python -m hubcore demo-bundle`", file=sys.stderr)
            return 1
        for e in entries:
            tag = f" ({e['tag']})" if e.get("tag") else ""
            print(f"{e['experiment']}{tag}  [page: /{e['page']}]  computed {e['computed_at']}, "
                  f"{e['seconds']:.1f} s live")
        return 0
    bar = ProgressBar("Building the demo bundle")
    try:
        lines = build(progress=bar, only=set(args.only) if args.only else None)
    finally:
        bar.close()
    for line in lines:
        print(line, file=sys.stderr)
    print(f"demo bundle ready: {bundle_dir()} ({sum(l.startswith('bundled') for l in lines)} results); "
          "the pages open from it and say so", file=sys.stderr)
    return 0
