"""Command line: `python -m hubcore <command> ... --out results.csv` (or the `hubcore` script).

Every experiment command is generated from the experiment registry (`cli.build`) and calls the
same registered function as its dashboard page, so every chart can be regenerated headless.
User errors print one sentence and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Optional, Sequence

from ..errors import HubError
from .build import add_all, command_line, values_of
from .commands import cmd_demo_bundle, cmd_list, cmd_models, cmd_prepare
from .options import add_model_args, check_out, load_model, note, run_with_progress

_load = load_model  # the seam tests replace to run commands on an in-process model


def run_registered(exp: Any, args: argparse.Namespace) -> int:
    """Run one registered experiment from parsed options and write its Result."""
    if exp.many_models:
        return run_per_model(exp, args)
    out = getattr(args, "out", None)
    if out:
        check_out(out)
    extra = {name: check_out(getattr(args, name)) for name in exp.extra_outputs if getattr(args, name, None)}
    kwargs, notes = exp.call_kwargs(values_of(exp, args))
    note(notes)
    model = _load(args, exp.kind) if exp.needs_model else None
    res = run_with_progress(exp.summary[:1].upper() + exp.summary[1:40], exp.func, model, **kwargs)
    res.meta["command"] = command_line(getattr(args, "_argv", None))
    note(res.notes)
    for line in (exp.report(res) if exp.report else []):
        print(line, file=sys.stderr)
    if out:
        for path, rows in res.write(out, extra=extra):
            if rows is None:
                print(f"wrote the run's metadata to {path}", file=sys.stderr)
            else:
                print(f"wrote {rows} rows to {path}", file=sys.stderr)
    return 0


def run_per_model(exp: Any, args: argparse.Namespace) -> int:
    """A command whose --model may be repeated (the checkup): load and run each model in turn,
    then write all Results at once with the experiment's own writer. A model that fails to load
    or run is one error line; the others are still run and written (exit status 2)."""
    out = check_out(args.out, exp.out_suffix)
    sources = args.model or ["default"]
    remotes = args.remote or ["off"]
    if len(remotes) not in (1, len(sources)):
        raise HubError(f"Give --remote once (for every model) or once per --model ({len(sources)}), "
                       f"not {len(remotes)} times.")
    remotes = remotes * len(sources) if len(remotes) == 1 else remotes
    kwargs, notes = exp.call_kwargs(values_of(exp, args))
    note(notes)
    results, failed = [], 0
    for i, (source, remote) in enumerate(zip(sources, remotes)):
        one = argparse.Namespace(**{**vars(args), "model": source, "remote": remote})
        try:
            model = _load(one, exp.kind)
            res = run_with_progress(f"[{i + 1}/{len(sources)}] {source}", exp.func, model, **kwargs)
        except HubError as exc:
            from ..models.remote import scrub

            print(f"error: {source}: {scrub(str(exc))}", file=sys.stderr)
            failed += 1
            continue
        res.meta["command"] = command_line(getattr(args, "_argv", None))
        note(res.notes)
        for line in (exp.report(res) if exp.report else []):
            print(line, file=sys.stderr)
        results.append(res)
    if results:
        for path, rows in exp.write(results, out):
            print(f"wrote {rows} rows to {path}" if rows is not None else f"wrote {path}", file=sys.stderr)
    return 2 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hubcore",
        description="Semantic Hub Explorer, headless: the dashboard's experiments as CSV files.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    add_all(sub, add_model_args, lambda exp, args: run_registered(exp, args))

    p = sub.add_parser("list", help="one line per experiment: its command and what it computes",
                       description="Every experiment the dashboard shows, as a CLI command.")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("prepare", help="convert and cache the embedded models (once)",
                       description="De-quantise the packaged Gemma-3-270M GGUF and convert the "
                                   "packaged Whisper-base (CTranslate2) and cache both as "
                                   "safetensors (about a minute, once); later loads take seconds.")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("demo-bundle", help="precompute every page's default results (opens pages instantly)",
                       description="Run each dashboard page's default experiments on the embedded "
                                   "models and store the results in the cache directory: every page "
                                   "then opens from them in about a second and says so, with a button "
                                   "to recompute live. Vision needs a model you bring and is skipped.")
    p.add_argument("--only", action="append", metavar="EXPERIMENT",
                   help="bundle only this experiment (repeatable; e.g. --only lens); the bundle then "
                        "holds only these")
    p.add_argument("--list", action="store_true", help="show what the bundle holds and exit")
    p.set_defaults(func=cmd_demo_bundle)

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
        from ..models.remote import scrub

        print(f"error: {scrub(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        return 0
