"""Command line: `python -m hubcore <command> ... --out results.csv`.

Each command calls the same experiment function as its dashboard page, so every chart can be
regenerated headless. User errors print one sentence and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from .errors import HubError


class _Bar:
    """A tqdm bar on stderr driven by hubcore's (fraction, message) progress callbacks."""

    def __init__(self, desc: str) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=1000, desc=desc, file=sys.stderr, leave=False,
                         bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")

    def __call__(self, fraction: float, message: str) -> None:
        self._bar.n = int(fraction * 1000)
        self._bar.set_postfix_str(message[:60], refresh=True)

    def close(self) -> None:
        self._bar.close()


def _add_model_args(p: argparse.ArgumentParser) -> None:
    from .models import DEVICES, DTYPES

    g = p.add_argument_group("model")
    g.add_argument("--model", default="default",
                   help="'default' (embedded Gemma-3-270M), a Hugging Face hub id, a local "
                        "model directory, or a .gguf file (default: %(default)s)")
    g.add_argument("--dtype", default="auto", choices=DTYPES, help="weights dtype (default: auto)")
    g.add_argument("--device", default="auto", choices=DEVICES, help="device (default: auto)")
    g.add_argument("--trust-remote-code", action="store_true",
                   help="run custom model code from the model's repository (only for authors you trust)")
    g.add_argument("--allow-download", action="store_true",
                   help="allow downloading a hub id that is not in the local cache (off by default)")


def _load(args: argparse.Namespace) -> Any:
    import os

    from .models import ModelSpec, get_model

    spec = ModelSpec(
        source=args.model,
        dtype=args.dtype,
        device=args.device,
        trust_remote_code=args.trust_remote_code,
        allow_download=args.allow_download or os.environ.get("HUBCORE_ALLOW_DOWNLOAD") == "1",
    )
    if spec.trust_remote_code:
        print("warning: --trust-remote-code runs code from the model repository on this machine.",
              file=sys.stderr)
    bar = _Bar("Loading model")
    try:
        return get_model(spec, progress=bar)
    finally:
        bar.close()


def _check_out(out: str) -> Path:
    """Validate an output path before any slow work, so a typo costs no model load."""
    path = Path(out)
    if path.is_dir():
        raise HubError(f"--out '{out}' is a folder; give a file name such as results.csv.")
    if not path.parent.exists():
        raise HubError(f"Output folder '{path.parent}' does not exist.")
    return path


def _write(df: Any, out: str) -> None:
    path = _check_out(out)
    try:
        df.to_csv(path, index=False)
    except OSError as exc:
        raise HubError(f"Could not write '{out}': {exc.strerror or exc}.") from exc
    print(f"wrote {len(df)} rows to {path}", file=sys.stderr)


def cmd_lens(args: argparse.Namespace) -> int:
    from .experiments.logit_lens import logit_lens
    from .tokens import check_text

    check_text(args.text)  # fail fast, before a model load
    _check_out(args.out)
    if not 1 <= args.top_k <= 50:
        raise HubError("top-k must be between 1 and 50.")
    model = _load(args)
    bar = _Bar("Logit lens")
    try:
        report = logit_lens(model, args.text, top_k=args.top_k, raw=args.raw, progress=bar)
    finally:
        bar.close()
    _write(report.csv_frame(), args.out)
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from .default_model import default_model_dir

    bar = _Bar("Preparing the default model")
    try:
        path = default_model_dir(progress=bar)
    finally:
        bar.close()
    print(f"default model ready: {path}", file=sys.stderr)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .models import TESTED_FAMILIES

    print("Model specs: 'default' | <hub id, e.g. google/gemma-2-2b> | <local dir> | <file.gguf>")
    print("\nDecoder LM families tested with tiny random models (capture, lens, renaming):")
    for family, note in TESTED_FAMILIES.items():
        print(f"  {family:<12} {note}")
    print("\nOther decoder LMs work when nnterp can map their layers, final norm and LM head;")
    print("this is checked when the model loads, and the lens is verified against the model's")
    print("own logits (shown as 'lens check' on the model card).")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hubcore",
        description="Semantic Hub Explorer, headless: the dashboard's experiments as CSV files.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("lens", help="logit lens over every layer and position of a text",
                       description="Logit lens: top-k next-token readings of every layer "
                                   "(0 = embeddings .. L = last block) at every position. Writes "
                                   "the columns layer,position,input_token,rank,token,prob.")
    p.add_argument("--text", required=True, help="input text")
    p.add_argument("--top-k", type=int, default=5, help="tokens kept per cell (default: 5)")
    p.add_argument("--raw", action="store_true", help="skip the final norm (the paper's code)")
    p.add_argument("--out", required=True, help="CSV file to write")
    _add_model_args(p)
    p.set_defaults(func=cmd_lens)

    p = sub.add_parser("prepare", help="convert and cache the embedded default model (once)",
                       description="De-quantise the packaged Gemma-3-270M GGUF and cache it as "
                                   "safetensors (about a minute, once); later loads take seconds.")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("models", help="list model specs and supported families",
                       description="List the model spec syntax and the tested model families.")
    p.set_defaults(func=cmd_models)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except HubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
