"""Command line: `python -m hubcore <command> ... --out results.csv`.

Each command calls the same experiment function as its dashboard page, so every chart can be
regenerated headless. User errors print one sentence and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from .cli_build import add_all
from .errors import HubError

# Modules that add their own subcommands with `register(subparsers)` (kept out of this file so
# each data type's CLI sits next to nothing else; they reuse the helpers below).
COMMAND_MODULES: tuple[str, ...] = ()


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


MODEL_HELP = {
    "text": "'default' (embedded Gemma-3-270M), a Hugging Face hub id, a local model directory, "
            "or a .gguf file (default: %(default)s)",
    "speech": "'default' (embedded Whisper base), a local Hugging Face Whisper or Qwen2-Audio "
              "folder, or a hub id in the local cache (default: %(default)s)",
    "vision": "a vision-language model: a Hugging Face hub id in the local cache or a local "
              "model folder (no VLM ships with the app)",
}


def _add_model_args(p: argparse.ArgumentParser, kind: str = "text") -> None:
    from .models import DEVICES, DTYPES, REMOTE_HELP

    g = p.add_argument_group("model")
    if kind == "vision":
        g.add_argument("--model", required=True, help=MODEL_HELP[kind])
    else:
        g.add_argument("--model", default="default", help=MODEL_HELP[kind])
    g.add_argument("--dtype", default="auto", choices=DTYPES, help="weights dtype (default: auto)")
    g.add_argument("--device", default="auto", choices=DEVICES, help="device (default: auto)")
    g.add_argument("--trust-remote-code", action="store_true",
                   help="run custom model code from the model's repository (only for authors you trust)")
    g.add_argument("--allow-download", action="store_true",
                   help="allow downloading a hub id that is not in the local cache (off by default)")
    g.add_argument("--remote", default="off", metavar="{off,local,ndif,URL}",
                   help=f"where traces run: {REMOTE_HELP} (default: off)")
    g.add_argument("--rename", default="", metavar="ROLE=PATH,...",
                   help="module map for an architecture the app does not know, e.g. "
                        "layers=model.decoder.layers,ln_final=model.decoder.final_layer_norm "
                        "(roles: embed, layers, ln_final, lm_head)")


def _spec(args: argparse.Namespace, kind: str = "text") -> Any:
    import os

    from .models import ModelSpec

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


def _load(args: argparse.Namespace, kind: str = "text") -> Any:
    from .models import get_model

    spec = _spec(args, kind)
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
        # CRLF rows: the csv writer then quotes cells holding a bare "\r" (Gemma has such
        # tokens), which would otherwise split a row in every CSV reader
        df.to_csv(path, index=False, lineterminator="\r\n")
    except OSError as exc:
        raise HubError(f"Could not write '{out}': {exc.strerror or exc}.") from exc
    print(f"wrote {len(df)} rows to {path}", file=sys.stderr)


def _write_with_rates(generations: Any, rates: Any, out: str) -> None:
    """Generations to `out`, outcome rates beside it as `<out>_rates.csv` (intervention commands)."""
    path = Path(out)
    _write(generations, str(path))
    _write(rates, str(path.with_name(path.stem + "_rates" + path.suffix)))


def _note_skipped(skipped: Any) -> None:
    _note([f"skipped {k}: {v}" for k, v in dict(skipped).items() if v])


def _read_file(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise HubError(f"Could not read '{path}': {exc.strerror or exc}.") from exc


def _note(notes: Sequence[str]) -> None:
    for note in notes:
        print(f"note: {note}", file=sys.stderr)


def _run(label: str, fn: Callable[..., Any], model: Any, **kwargs: Any) -> Any:
    from .models.remote import reporting_status

    bar = _Bar(label)
    try:
        with reporting_status(lambda m: bar(0.0, m)):
            return fn(model, progress=bar, **kwargs)
    finally:
        bar.close()


def cmd_prepare(args: argparse.Namespace) -> int:
    from .models.default import default_model_dir

    from .audio.whisper_convert import whisper_base_dir

    bar = _Bar("Preparing the default model")
    try:
        path = default_model_dir(progress=bar)
    finally:
        bar.close()
    print(f"default model ready: {path}", file=sys.stderr)
    bar = _Bar("Preparing the audio model")
    try:
        path = whisper_base_dir(progress=bar)
    finally:
        bar.close()
    print(f"audio model (Whisper base) ready: {path}", file=sys.stderr)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .models import TESTED_FAMILIES

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


def run_registered(exp: Any, args: argparse.Namespace) -> int:
    """Run one registered experiment from parsed options and write its Result."""
    from .cli_build import command_line, values_of

    out = getattr(args, "out", None)
    if out:
        _check_out(out)
    extra = {name: _check_out(getattr(args, name)) for name in exp.extra_outputs if getattr(args, name, None)}
    kwargs, notes = exp.call_kwargs(values_of(exp, args))
    _note(notes)
    model = _load(args, exp.kind) if exp.needs_model else None
    res = _run(exp.summary[:1].upper() + exp.summary[1:40], exp.func, model, **kwargs)
    res.meta["command"] = command_line(getattr(args, "_argv", None))
    _note(res.notes)
    for line in (exp.report(res) if exp.report else []):
        print(line, file=sys.stderr)
    if out:
        for path, rows in res.write(out, extra=extra):
            if rows is None:
                print(f"wrote the run's metadata to {path}", file=sys.stderr)
            else:
                print(f"wrote {rows} rows to {path}", file=sys.stderr)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from .experiments.registry import load_all

    exps = load_all()
    width = max(len(e.name) for e in exps.values())
    for exp in exps.values():
        print(f"{exp.name:<{width}}  {exp.summary}  [page: /{exp.page}]")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hubcore",
        description="Semantic Hub Explorer, headless: the dashboard's experiments as CSV files.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    for name in COMMAND_MODULES:  # steering, audio, vision: one module each, same helpers
        importlib.import_module(f"{__package__}.{name}").register(sub)

    add_all(sub, _add_model_args, run_registered)

    p = sub.add_parser("list", help="one line per experiment: its command and what it computes",
                       description="Every experiment the dashboard shows, as a CLI command.")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("prepare", help="convert and cache the embedded models (once)",
                       description="De-quantise the packaged Gemma-3-270M GGUF and convert the "
                                   "packaged Whisper-base (CTranslate2) and cache both as "
                                   "safetensors (about a minute, once); later loads take seconds.")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("models", help="list model specs and supported families",
                       description="List the model spec syntax and the tested model families.")
    p.set_defaults(func=cmd_models)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args._argv = list(sys.argv[1:] if argv is None else argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except HubError as exc:
        from .models.remote import scrub

        print(f"error: {scrub(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
