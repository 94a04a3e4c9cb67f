"""Legacy hand-written commands (similarity, anchoring, languages: the Multilingual page); replaced by registry-generated ones as the
experiments move to the registry."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .cli import (_add_model_args, _check_out, _load, _note, _note_skipped, _read_file, _run, _write,
                  _write_with_rates)


def cmd_similarity(args: argparse.Namespace) -> int:
    from .data.uploads import parse_pairs
    from .experiments.multilingual import apply_template, translation_similarity

    _check_out(args.out)
    pairs, notes = parse_pairs(_read_file(args.pairs), args.pairs, max_rows=args.max_pairs)
    _note(notes)
    apply_template(args.template_a, "x"), apply_template(args.template_b, "x")  # validate early
    model = _load(args)
    rep = _run("Similarity", translation_similarity, model, pairs=pairs, template_a=args.template_a,
               template_b=args.template_b, n_boot=args.bootstrap, seed=args.seed)
    _write(rep.curves, args.out)
    return 0


def cmd_languages(args: argparse.Namespace) -> int:
    from .data.uploads import parse_texts
    from .experiments.multilingual import language_probabilities
    from .langprob import check_languages

    _check_out(args.out)
    langs = check_languages(args.languages.split(","))
    texts, notes = parse_texts(_read_file(args.texts), args.texts, max_rows=args.max_texts)
    _note(notes)
    model = _load(args)
    rep = _run("Language probability", language_probabilities, model, texts=texts, languages=langs,
               raw=args.raw, n_boot=args.bootstrap, seed=args.seed)
    _write(rep.curves, args.out)
    return 0


def cmd_anchoring(args: argparse.Namespace) -> int:
    from .data.uploads import parse_pairs, parse_texts
    from .experiments.anchoring import anchoring

    _check_out(args.out)
    texts, notes = parse_texts(_read_file(args.texts), args.texts, max_rows=args.max_texts)
    _note(notes)
    lexicon = None
    if args.lexicon:
        entries, lex_notes = parse_pairs(_read_file(args.lexicon), args.lexicon, max_rows=10**6)
        _note(lex_notes)
        lexicon = dict(entries)
    model = _load(args)
    rep = _run("Anchoring", anchoring, model, texts=texts, lang=args.lang, lexicon=lexicon,
               raw=args.raw, n_boot=args.bootstrap, seed=args.seed)
    _write(rep.csv_frame(), args.out)
    return 0



def register(sub: Any) -> None:
    p = sub.add_parser("similarity", help="translation similarity per layer (paper Fig. 3)",
                       description="Per-layer cosine similarity of paired inputs (last token of each "
                                   "templated text), matched minus non-matching, raw and centred, "
                                   "with bootstrap CIs and retrieval@1. Writes the columns "
                                   "layer,metric,matched,baseline,adjusted,ci_low,ci_high,retrieval_at_1.")
    p.add_argument("--pairs", required=True, help="two-column UTF-8 TSV (A<TAB>B, no header) or CSV")
    p.add_argument("--template-a", default="{}", help="template for side A, {} = the text "
                   "(paper: '{} This represents'; default: %(default)s)")
    p.add_argument("--template-b", default="{}", help="template for side B (e.g. '{} 这代表')")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default: 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    p.add_argument("--max-pairs", type=int, default=5000,
                   help="larger files are randomly sampled to this many pairs (default: 5000)")
    p.add_argument("--out", required=True, help="CSV file to write")
    _add_model_args(p)
    p.set_defaults(func=cmd_similarity)

    p = sub.add_parser("anchoring", help="English anchoring of non-English text (paper Eq. 3)",
                       description="At positions whose next token is a dictionary word: logit-lens "
                                   "log p of its English translation vs of the actual next token, "
                                   "per layer. Writes layer,target,mean_logprob,ci_low,ci_high,n.")
    p.add_argument("--texts", required=True, help="UTF-8 text file, one text per line")
    p.add_argument("--lang", required=True, help="language of the texts (zh uses jieba + CC-CEDICT)")
    p.add_argument("--lexicon", help="optional two-column TSV: source word<TAB>English word")
    p.add_argument("--raw", action="store_true", help="skip the final norm (the paper's code)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default: 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-texts", type=int, default=2000, help="sample larger files (default: 2000)")
    p.add_argument("--out", required=True, help="CSV file to write")
    _add_model_args(p)
    p.set_defaults(func=cmd_anchoring)

    p = sub.add_parser("languages", help="language of the lens reading per layer (paper Fig. 4)",
                       description="p(language | h) per layer from word-frequency lists, averaged "
                                   "over positions and texts. Writes layer,language,prob,ci_low,ci_high "
                                   "(languages plus 'other').")
    p.add_argument("--texts", required=True, help="UTF-8 text file, one text per line")
    p.add_argument("--languages", default="en,zh", help="comma-separated codes (default: en,zh)")
    p.add_argument("--raw", action="store_true", help="skip the final norm (the paper's code)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default: 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-texts", type=int, default=500, help="sample larger files (default: 500)")
    p.add_argument("--out", required=True, help="CSV file to write")
    _add_model_args(p)
    p.set_defaults(func=cmd_languages)
