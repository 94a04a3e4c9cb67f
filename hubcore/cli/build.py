"""CLI sub-commands generated from the experiment registry.

Every registered experiment becomes `python -m hubcore <command> [options] --out FILE`: its
`Param`s become options (defaults from the function's signature), the model options of its kind
are added, and the run writes the `Result` (main table at --out, the others beside it, and a
.json of the run's metadata). Nested names ("arithmetic intervene") become nested sub-commands.
"""

from __future__ import annotations

import argparse
import functools
import shlex
import sys
from pathlib import Path
from typing import Any, Callable, Optional

from ..experiments.registry import GROUPS, NO_DEFAULT, Experiment, Param, load_all


def _list_type(p: Param) -> Callable[[str], list[Any]]:
    def parse(text: str) -> list[Any]:
        try:
            values = [p.type(x.strip()) for x in text.split(",") if x.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of "
                                             f"{getattr(p.type, '__name__', 'values')}s") from None
        if not values:
            raise argparse.ArgumentTypeError("give at least one value")
        bad = [v for v in values if p.choices and v not in p.choices]
        if bad:
            raise argparse.ArgumentTypeError(f"{bad[0]!r} is not one of {', '.join(map(str, p.choices))}")
        return values

    return parse


def add_param(parser: argparse.ArgumentParser, p: Param, default: Any) -> None:
    """One `Param` as an argparse option."""
    shown = "" if default in (None, (), []) or p.switch else f" (default: {_show(default)})"
    kwargs: dict[str, Any] = {"dest": p.name, "help": (p.help + shown).replace("%", "%%")}
    if p.metavar:
        kwargs["metavar"] = p.metavar
    if p.switch:
        parser.add_argument(p.cli_flag, action="store_true", **kwargs)
        return
    if p.many == "comma":
        kwargs["type"] = _list_type(p)
    else:
        kwargs["type"] = p.type
        if p.choices:
            kwargs["choices"] = list(p.choices)
    if p.many == "nargs":
        kwargs["nargs"] = "+"
    elif p.many == "repeat":
        kwargs["action"] = "append"  # default None: argparse would append to a default list
    if p.required:
        kwargs["required"] = True
    elif p.many == "repeat":
        kwargs["default"] = None
    else:
        kwargs["default"] = list(default) if isinstance(default, tuple) else default
    parser.add_argument(p.cli_flag, **kwargs)


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def add_experiment(tree: dict[tuple[str, ...], Any], root: Any, exp: Experiment,
                   add_model_args: Callable[..., None], run: Callable[[Experiment, argparse.Namespace], int]) -> None:
    """Add `exp` under its (possibly nested) command path, creating group parsers on the way."""
    *groups, leaf = exp.command
    sub = root
    for depth in range(1, len(groups) + 1):
        path = tuple(groups[:depth])
        if path not in tree:
            name = path[-1]
            gp = sub.add_parser(name, help=GROUPS.get(name, name), description=GROUPS.get(name, name))
            child = gp.add_subparsers(dest="_".join(path) + "_command", metavar="EXPERIMENT")
            child.required = True
            tree[path] = child
        sub = tree[path]
    # argparse %-formats a subcommand's `help` (the parent's listing) but a description only when
    # it holds "%(prog)": escape the first, never the second (it printed "95%%")
    p = sub.add_parser(leaf, help=exp.summary.replace("%", "%%"), description=exp.description)
    defaults = exp.defaults()
    for param in exp.params:
        add_param(p, param, defaults[param.name])
    p.add_argument("--out", required=exp.name not in OPTIONAL_OUT,
                   help=f"the {exp.out_suffix} report to write (a .json summary and one CSV per table "
                        "are written beside it)" if exp.out_suffix else
                   "CSV file to write (its other tables and a .json with the run's metadata "
                   "are written beside it)")
    if exp.needs_model:
        add_model_args(p, exp.kind, many=True) if exp.many_models else add_model_args(p, exp.kind)
    p.set_defaults(func=functools.partial(run, exp))


# experiments whose CLI prints its result and writes a file only when asked
OPTIONAL_OUT = {"audio transcribe", "tune-lens"}


def values_of(exp: Experiment, args: argparse.Namespace) -> dict[str, Any]:
    """Parsed options as CLI-level values; an unused repeatable option takes its default."""
    defaults = exp.defaults()
    out = {}
    for p in exp.params:
        value = getattr(args, p.name)
        if value is None and p.many == "repeat":
            value = defaults[p.name]
        out[p.name] = value
    return out


def add_all(root: Any, add_model_args: Callable[..., None],
            run: Callable[[Experiment, argparse.Namespace], int]) -> None:
    tree: dict[tuple[str, ...], Any] = {}
    for exp in load_all().values():
        add_experiment(tree, root, exp, add_model_args, run)


def command_line(argv: Optional[list[str]]) -> str:
    """The command that was run, for the metadata JSON (keys never appear in argv)."""
    args = list(sys.argv[1:] if argv is None else argv)
    return shlex.join(["python", "-m", "hubcore", *args])


__all__ = ["NO_DEFAULT", "add_all", "add_experiment", "add_param", "command_line", "values_of"]


def out_paths(out: Optional[str]) -> Optional[Path]:
    return Path(out) if out else None
