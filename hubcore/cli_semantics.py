"""Legacy hand-written commands (semantics similarity|roles: the Formal semantics page); replaced by registry-generated ones as the
experiments move to the registry."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .cli import (_add_model_args, _check_out, _load, _note, _note_skipped, _read_file, _run, _write,
                  _write_with_rates)


def cmd_semantics(args: argparse.Namespace) -> int:
    from .experiments import semantics as sx

    _check_out(args.out)
    model = _load(args)
    if args.sem_command == "similarity":
        rep = _run("Sentence vs LF", sx.lf_similarity, model, n=args.n, seed=args.seed,
                   n_boot=args.bootstrap)
        _write(rep.csv_frame(args.metric), args.out)
    else:
        rep = _run("Thematic roles", sx.thematic_roles, model, n=args.n, seed=args.seed,
                   raw=args.raw, n_boot=args.bootstrap)
        _write(rep.curves, args.out)
    return 0



def register(sub: Any) -> None:
    p = sub.add_parser("semantics", help="sentences vs logical forms (paper §3.4)",
                       description="Formal-semantics experiments on generated COGS-style data.")
    ssub = p.add_subparsers(dest="sem_command", metavar="EXPERIMENT")
    ssub.required = True
    s1 = ssub.add_parser("similarity", help="sentence vs its LF minus three baselines (Fig. 9)",
                         description="Writes layer,baseline,adjusted,ci_low,ci_high with baseline in "
                                     "{nonmatching, swapped_names, swapped_shuffled}.")
    s1.add_argument("--metric", default="raw", choices=["raw", "centered"])
    s2 = ssub.add_parser("roles", help="agent/recipient/theme through the lens (Fig. 10)",
                         description="Writes layer,gold_role,read_role,mean_prob,ci_low,ci_high,adjusted.")
    s2.add_argument("--raw", action="store_true", help="skip the final norm")
    for s_ in (s1, s2):
        s_.add_argument("--n", type=int, default=200, help="examples (default: 200)")
        s_.add_argument("--seed", type=int, default=0)
        s_.add_argument("--bootstrap", type=int, default=1000)
        s_.add_argument("--out", required=True, help="CSV file to write")
        _add_model_args(s_)
        s_.set_defaults(func=cmd_semantics)
