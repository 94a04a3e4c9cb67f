"""Legacy hand-written commands (code lists|roles|range-steer: the Code page); replaced by registry-generated ones as the
experiments move to the registry."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .cli import (_add_model_args, _check_out, _load, _note, _note_skipped, _read_file, _run, _write,
                  _write_with_rates)


def cmd_code(args: argparse.Namespace) -> int:
    from .text.python_source import load_user_code
    from .experiments import code as cx

    _check_out(args.out)
    programs = None
    if args.source != "humaneval":
        programs = load_user_code(_read_file(args.source), args.source)
    model = _load(args)
    if args.code_command == "lists":
        rep = _run("List literals", cx.list_literals, model, programs=programs, raw=args.raw,
                   n_boot=args.bootstrap, max_programs=args.max_programs, sites=args.sites)
        _note_skipped(rep.skipped)
        _write(rep.curves, args.out)
    elif args.code_command == "roles":
        rep = _run("Semantic roles", cx.semantic_roles, model, programs=programs, raw=args.raw,
                   n_boot=args.bootstrap, max_programs=args.max_programs)
        _note_skipped(rep.skipped)
        _write(rep.curves, args.out)
    else:
        rep = _run("range steering", cx.range_steer, model, programs=programs, layer=args.layer,
                   strengths=args.strengths, scale=args.scale)
        _note(rep.notes)
        _write_with_rates(rep.generations, rep.rates, args.out)
    return 0



def register(sub: Any) -> None:
    p = sub.add_parser("code", help="English anchors in Python code (paper §3.3, Fig. 12b)",
                       description="Code experiments on HumanEval (parsed, never executed) or your file.")
    csub = p.add_subparsers(dest="code_command", metavar="EXPERIMENT")
    csub.required = True
    c1 = csub.add_parser("lists", help="' and'/' or'/' not' vs next token at list commas (Fig. 8a)",
                         description="Writes layer,target,mean_logprob,ci_low,ci_high,n with target "
                                     "in {and, or, not, next}.")
    c2 = csub.add_parser("roles", help="parameter name vs argument before each argument (Fig. 8b)",
                         description="Writes layer,target,mean_logprob,ci_low,ci_high,n with target "
                                     "in {role, argument}.")
    c3 = csub.add_parser("range-steer", help="steer range(end) towards range(0, end) (Fig. 12b)",
                         description="Adds s x (W_U['start'] - W_U['end']) at the '(' of single-argument "
                                     "range( calls; writes generations to --out and success rates to "
                                     "<out>_rates.csv.")
    c3.add_argument("--layer", type=int, default=None, help="layer (default: L/2)")
    c3.add_argument("--strengths", type=float, nargs="+", default=[0, 1, 2, 4, 8])
    c3.add_argument("--scale", default="raw", choices=["raw", "residual"],
                    help="raw: multiply the unembedding difference (the paper); residual: strengths "
                         "are fractions of the hidden-state norm at '(' (try 0.02 0.05 0.1)")
    c1.add_argument("--sites", default="all", choices=["all", "code", "strings"],
                    help="list commas in code, in strings/docstrings, or both (default: all)")
    for c_ in (c1, c2):
        c_.add_argument("--raw", action="store_true", help="skip the final norm")
        c_.add_argument("--bootstrap", type=int, default=1000)
        c_.add_argument("--max-programs", type=int, default=164)
    for c_ in (c1, c2, c3):
        c_.add_argument("--source", default="humaneval", help="'humaneval' or a .py file (default: humaneval)")
        c_.add_argument("--out", required=True, help="CSV file to write")
        _add_model_args(c_)
        c_.set_defaults(func=cmd_code)
