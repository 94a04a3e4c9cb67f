"""Options and output every command shares: the model options, the progress bar on stderr,
checking and writing output files, one-line notes."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import HubError


class ProgressBar:
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


MODEL_HELP = {
    "text": "'default' (embedded Gemma-3-270M), a Hugging Face hub id, a local model directory, "
            "or a .gguf file (default: %(default)s)",
    "speech": "'default' (embedded Whisper base), a local Hugging Face Whisper or Qwen2-Audio "
              "folder, or a hub id in the local cache (default: %(default)s)",
    "vision": "a vision-language model: a Hugging Face hub id in the local cache or a local "
              "model folder (no VLM ships with the app)",
}


def add_model_args(p: argparse.ArgumentParser, kind: str = "text", many: bool = False) -> None:
    """The model options; `many`: --model (and --remote) may be repeated, one run per model."""
    from ..models import DEVICES, DTYPES, REMOTE_HELP

    g = p.add_argument_group("model")
    if many:
        g.add_argument("--model", action="append", default=None,
                       help=MODEL_HELP[kind].replace("(default: %(default)s)", "(repeat to compare models; "
                                                     "default: default)"))
    elif kind == "vision":
        g.add_argument("--model", required=True, help=MODEL_HELP[kind])
    else:
        g.add_argument("--model", default="default", help=MODEL_HELP[kind])
    g.add_argument("--dtype", default="auto", choices=DTYPES, help="weights dtype (default: auto)")
    g.add_argument("--device", default="auto", choices=DEVICES, help="device (default: auto)")
    g.add_argument("--trust-remote-code", action="store_true",
                   help="run custom model code from the model's repository (only for authors you trust)")
    g.add_argument("--allow-download", action="store_true",
                   help="allow downloading a hub id that is not in the local cache (off by default)")
    if many:
        g.add_argument("--remote", action="append", default=None, metavar="{off,local,ndif,URL}",
                       help=f"where traces run: {REMOTE_HELP}; once for every model, or once per --model "
                            "in the same order (default: off)")
    else:
        g.add_argument("--remote", default="off", metavar="{off,local,ndif,URL}",
                       help=f"where traces run: {REMOTE_HELP} (default: off)")
    g.add_argument("--rename", default="", metavar="ROLE=PATH,...",
                   help="module map for an architecture the app does not know, e.g. "
                        "layers=model.decoder.layers,ln_final=model.decoder.final_layer_norm "
                        "(roles: embed, layers, ln_final, lm_head)")


def spec_from_args(args: argparse.Namespace, kind: str = "text") -> Any:
    from ..models import ModelSpec

    return ModelSpec(
        source=args.model,
        kind=kind,
        dtype=args.dtype,
        device=args.device,
        trust_remote_code=getattr(args, "trust_remote_code", False),
        allow_download=args.allow_download or os.environ.get("HUBCORE_ALLOW_DOWNLOAD") == "1",
        remote=getattr(args, "remote", "off"),
        rename=getattr(args, "rename", ""),
    )


def load_model(args: argparse.Namespace, kind: str = "text") -> Any:
    from ..models import get_model

    spec = spec_from_args(args, kind)
    if spec.trust_remote_code:
        print("warning: --trust-remote-code runs code from the model repository on this machine.",
              file=sys.stderr)
    bar = ProgressBar("Loading model")
    try:
        return get_model(spec, progress=bar)
    finally:
        bar.close()


def check_out(out: str, suffix: str = "") -> Path:
    """Validate an output path before any slow work, so a typo costs no model load."""
    path = Path(out)
    if suffix and path.suffix.lower() != suffix:
        raise HubError(f"--out '{out}' must name a {suffix} file (e.g. report{suffix}).")
    if path.is_dir():
        raise HubError(f"--out '{out}' is a folder; give a file name such as results.csv.")
    if not path.parent.exists():
        raise HubError(f"Output folder '{path.parent}' does not exist.")
    return path


def note(notes: Sequence[str]) -> None:
    for note in notes:
        print(f"note: {note}", file=sys.stderr)


def run_with_progress(label: str, fn: Callable[..., Any], model: Any, **kwargs: Any) -> Any:
    from ..models.remote import reporting_status

    bar = ProgressBar(label)
    try:
        with reporting_status(lambda m: bar(0.0, m)):
            return fn(model, progress=bar, **kwargs)
    finally:
        bar.close()


