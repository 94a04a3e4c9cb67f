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

from .errors import HubError

# Modules that add their own subcommands with `register(subparsers)` (kept out of this file so
# each data type's CLI sits next to nothing else; they reuse the helpers below).
COMMAND_MODULES: tuple[str, ...] = ("cli_steer", "cli_vision", "cli_audio")


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


def cmd_code(args: argparse.Namespace) -> int:
    from .code_parsing import load_user_code
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

    for name in COMMAND_MODULES:  # steering, audio, vision: one module each, same helpers
        importlib.import_module(f"{__package__}.{name}").register(sub)

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
