"""Legacy hand-written commands (arithmetic similarity|lens|intervene: the Arithmetic page); replaced by registry-generated ones as the
experiments move to the registry."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .cli import (_add_model_args, _check_out, _load, _note, _note_skipped, _read_file, _run, _write,
                  _write_with_rates)


def cmd_arithmetic(args: argparse.Namespace) -> int:
    from .experiments import arithmetic as ar

    _check_out(args.out)
    model = _load(args)
    if args.arith_command == "similarity":
        rep = _run("Arithmetic similarity", ar.arithmetic_similarity, model, n=args.n, seed=args.seed,
                   lang=args.lang, n_boot=args.bootstrap)
        _write(rep.curves, args.out)
    elif args.arith_command == "lens":
        rep = _run("Numeral vs word", ar.numeral_vs_word, model, n=args.n, seed=args.seed,
                   lang=args.lang, raw=args.raw, n_boot=args.bootstrap)
        _write(rep.curves, args.out)
    else:
        rep = _run("+1 intervention", ar.plus_one_intervention, model, n=args.n, seed=args.seed,
                   layers=args.layers, strengths=args.strengths, few_shot=args.few_shot,
                   max_b=args.max_b, lang=args.lang)
        print(f"unsteered accuracy: {rep.base_accuracy:.1%} ({rep.n_solved}/{rep.n_items}); "
              "outcome rates are over the solved items", file=sys.stderr)
        _note(rep.notes)
        _write_with_rates(rep.generations, rep.rates, args.out)
    return 0



def register(sub: Any) -> None:
    p = sub.add_parser("arithmetic", help="numerals vs number words (paper §3.2, §4)",
                       description="Arithmetic experiments on expressions a=b+c / a=b*c.")
    asub = p.add_subparsers(dest="arith_command", metavar="EXPERIMENT")
    asub.required = True
    q = asub.add_parser("similarity", help="numeral vs word expressions by bucket (Fig. 5a/b)",
                        description="Cosine between 'b+c' and 'b plus c' per layer, grouped into "
                                    "exact / same_value / different_value / exact_minus_rest. "
                                    "Writes layer,metric,bucket,mean,ci_low,ci_high.")
    q.add_argument("--n", type=int, default=200, help="expressions sampled (default: 200)")
    q.add_argument("--bootstrap", type=int, default=1000)
    q2 = asub.add_parser("lens", help="numeral c vs its word at 'a=b+' (Fig. 5c)",
                         description="Logit-lens log p of the answer c as a numeral vs as a word "
                                     "at the prefix 'a=b+'. Writes layer,target,mean_logprob,"
                                     "ci_low,ci_high,n.")
    q2.add_argument("--n", type=int, default=200, help="prefixes sampled (default: 200)")
    q2.add_argument("--raw", action="store_true", help="skip the final norm")
    q2.add_argument("--bootstrap", type=int, default=1000)
    q3 = asub.add_parser("intervene", help="the +1 intervention with a strength sweep (Fig. 12a)",
                         description="Adds s x (h_l('a equals to b+1 plus') - h_l('a equals to b "
                                     "plus')) at the last prompt position; writes one row per "
                                     "(item, layer, strength) to --out and outcome rates over items "
                                     "solved unsteered to <out>_rates.csv.")
    q3.add_argument("--n", type=int, default=40, help="items (default: 40)")
    q3.add_argument("--layers", type=int, nargs="+", default=[], help="layers (default: L/2)")
    q3.add_argument("--strengths", type=float, nargs="+", default=[0, 0.5, 1, 1.5, 2, 2.5, 3],
                    help="strengths, one batched generation per layer (default: 0 to 3 by 0.5)")
    q3.add_argument("--few-shot", action="store_true", help="three worked examples before each prompt")
    q3.add_argument("--max-b", type=int, default=98, help="largest b (small models do better on 1..9)")
    for q_ in (q, q2, q3):
        q_.add_argument("--lang", default="en", help="language of the number words (default: en)")
        q_.add_argument("--seed", type=int, default=0)
        q_.add_argument("--out", required=True, help="CSV file to write")
        _add_model_args(q_)
        q_.set_defaults(func=cmd_arithmetic)
