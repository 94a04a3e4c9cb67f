"""Code experiments (paper §3.3, Figures 7-8, and §4 Figure 12b) on Python programs.

- `list_literals` (Fig. 8a): at every comma that separates list-literal elements, the logit
  lens reads log p(" and"), log p(" or"), log p(" not") and log p(the actual next token), per
  layer. The semantic-hub claim: the comma "means" *and*, so " and" should beat " or" in the
  intermediate layers.
- `semantic_roles` (Fig. 8b, appendix A.2): at the "(" or "," before each positional call
  argument, log p(the parameter name the argument binds to) vs log p(the argument's own first
  token), per layer.
- `range_steer` (Fig. 12b): at the "(" of a single-argument `range(x)` call (the end of the
  prompt), add s x (W_U["start"] - W_U["end"]) at one layer and greedy-decode: does the call
  become `range(0, ...)`?
- `lens_strip` (Fig. 7): the top lens token of one layer above every token of a code snippet.

Each is registered (`code lists|roles|range-steer|strip`), serves the Code page and
`python -m hubcore code ...`, and returns a `Result`. Programs default to HumanEval (prompt +
canonical solution), or come from `hubcore.text.python_source.load_user_code` (`--source FILE.py`).
Code is only parsed (ast / tokenize), never executed. Bad snippets and unusable positions are
skipped and counted by reason in the value `skipped`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

import numpy as np
import pandas as pd

from ..text.python_source import (
    GENERIC_ROLES,
    ParsedProgram,
    Program,
    call_arguments,
    humaneval_programs,
    list_commas,
    load_user_code,
    parse_programs,
    single_arg_range_calls,
    string_list_commas,
)
from ..errors import InputError
from ..lens import lens_at, word_variants
from ..progress import Progress, report, scaled
from ..stats import bootstrap_ci
from ..tokens import Encoded, check_text, encode, token_texts
from ..trace import capture_encoded
from .items_lens import CURVE_COLUMNS, DIFF_COLUMNS, difference_curve, item_layer_table, layer_curves
from .lens_param import LENS, checked_lens
from .registry import Param, default_layer, experiment, group, read_input
from .result import Result, Table, result

if TYPE_CHECKING:
    from ..models.handle import Handle as HubModel

group("code", "English anchors in Python code (paper §3.3, Fig. 12b)")

LIST_TARGETS = ("and", "or", "not", "next")
ROLE_TARGETS = ("role", "argument")
MAX_PROGRAMS = 2000
MAX_TOKENS = 512  # per program; longer programs are skipped ("too_long")
MAX_STRIP_TOKENS = 1024
CONTEXT_CHARS = 24
HUMANEVAL = "humaneval"

# The lens experiments' tables (code lists, code roles): a Result holds
#   curves         layer, target, mean_logprob, ci_low, ci_high, n (the CSV at --out)
#   difference     first target minus second (and - or / role - argument) per layer, with CI
#   items          one row per used position (program, token position, context, ...)
#   item_logprobs  item, layer, one column per target, top1_token
#   variants       target, variant, token, cells, share: which surface form won
# and the values skipped (by reason), num_layers, raw, n_programs, contrast ("and - or").
LIST_ITEM_COLUMNS = ("item", "program", "position", "char", "in_string", "context", "next_token")
ROLE_ITEM_COLUMNS = ("item", "program", "position", "char", "in_doctest", "delimiter", "callee", "role",
                     "role_source", "argument", "argument_token", "context")
VARIANT_COLUMNS = ("target", "variant", "token", "cells", "share")


def _lens_tables(items: Sequence[str], targets: Sequence[str], contrast: str) -> tuple[Table, ...]:
    return (
        Table("curves", tuple(CURVE_COLUMNS), "mean lens log p per layer and target, 95% CI over programs"),
        Table("difference", tuple(DIFF_COLUMNS), f"per-layer paired difference {contrast}, 95% CI"),
        Table("items", tuple(items), "one row per position used"),
        Table("item_logprobs", ("item", "layer", *targets, "top1_token"),
              "lens log p of each target per item and layer, with the top-1 lens token", open=True),
        Table("variants", VARIANT_COLUMNS, "which surface form (leading space or not) won the cells"),
    )


# parameters shared by the code commands
SOURCE = Param("source", "'humaneval' or a Python file (parsed, never run)", default=HUMANEVAL, arg="",
               metavar="humaneval|FILE.py")
RAW = Param("raw", "skip the final norm (the paper's code)", switch=True)
BOOTSTRAP = Param("n_boot", "bootstrap resamples for the 95% CIs (0: no CI)", type=int, flag="--bootstrap",
                  low=0, high=100_000)
PROGRAMS = Param("max_programs", "programs used (the first ones)", type=int, low=1, high=MAX_PROGRAMS)


def programs_kwargs(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`prepare` of the code commands: `--source FILE.py` is read and parsed (never run) before the
    model loads; lists become tuples, so a page's result cache can key on them."""
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k != "source"}
    source = values.get("source") or HUMANEVAL
    if source != HUMANEVAL:
        kwargs["programs"] = tuple(load_user_code(read_input(source), source))
    return kwargs, []


def skipped_lines(res: Result) -> list[str]:
    """`report`: what could not be used, by reason (stderr of the CLI)."""
    return [f"note: skipped {k}: {v}" for k, v in dict(res.skipped).items() if v]


@dataclass
class _Prepared:
    parsed: list[ParsedProgram]
    encoded: list[Encoded]
    skipped: dict[str, int]


def _count(skipped: dict[str, int], reason: str, n: int = 1) -> None:
    skipped[reason] = skipped.get(reason, 0) + n


def _prepare(
    model: "HubModel",
    programs: Optional[Sequence[Program]],
    max_programs: int,
    max_tokens: int,
) -> _Prepared:
    """Parse (skipping bad snippets), tokenise with offsets, skip programs over `max_tokens`."""
    if not 1 <= int(max_programs) <= MAX_PROGRAMS:
        raise InputError(f"max_programs must lie in 1..{MAX_PROGRAMS}.")
    if int(max_tokens) < 8:
        raise InputError("max_tokens must be at least 8.")
    programs = humaneval_programs() if programs is None else list(programs)
    if not programs:
        raise InputError("No programs given.")
    skipped: dict[str, int] = {}
    if len(programs) > max_programs:
        _count(skipped, "over_max_programs", len(programs) - max_programs)
        programs = programs[:max_programs]
    parsed, bad = parse_programs(programs)
    for reason, n in bad.items():
        _count(skipped, reason, n)
    keep_p, keep_e = [], []
    for p in parsed:
        if len(p.source) > max_tokens * 64:  # cheap guard before tokenising
            _count(skipped, "too_long")
            continue
        enc = encode(model.tokenizer, [p.source], max_chars=max(len(p.source), 1))[0]
        if len(enc) > max_tokens:
            _count(skipped, "too_long")
            continue
        if all(o == (0, 0) for o in enc.offsets):
            raise InputError("This tokenizer gives no character offsets, which the code experiments need.")
        keep_p.append(p)
        keep_e.append(enc)
    return _Prepared(parsed=keep_p, encoded=keep_e, skipped=skipped)


def _token_at(enc: Encoded, char: int) -> Optional[int]:
    """Index of the token whose span holds character `char` (special tokens ignored)."""
    for t, (s, e) in enumerate(enc.offsets):
        if s <= char < e:
            return t
    return None


def _boundary_token(enc: Encoded, char: int) -> tuple[Optional[int], str]:
    """The token that ends exactly after `char` (e.g. the comma), or (None, skip reason)."""
    t = _token_at(enc, char)
    if t is None:
        return None, "no_token"
    if enc.offsets[t][1] != char + 1:
        return None, "merged_boundary"  # e.g. ", " or ",\n" as one token
    if t + 1 >= len(enc):
        return None, "no_next_token"
    return t, ""


@dataclass
class _Item:
    program: int  # row in prepared lists
    position: int  # token index of the delimiter
    targets: dict[str, list[tuple[str, int]]]  # target -> [(variant, id)] (best counts)
    info: dict[str, Any]


def _lens_items(
    model: "HubModel",
    prep: _Prepared,
    items: list[_Item],
    targets: Sequence[str],
    raw: bool,
    progress: Optional[Progress],
    lens: str = "logit",
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]:
    """Per item and layer: best log p of each target, top-1 id, and index of the winning variant.

    The lens runs in the trace at the items' positions only; each item reads just its own
    targets' token ids (every surface variant), so only those numbers leave the trace.
    """
    used = sorted({it.program for it in items})
    per_prog = [[k for k, it in enumerate(items) if it.program == pi] for pi in used]
    positions = [[items[k].position for k in ks] for ks in per_prog]
    # causal model: tokens after a program's last needed position cannot change its states
    cut = [Encoded(ids=prep.encoded[pi].ids[:max(ps) + 1], offsets=prep.encoded[pi].offsets[:max(ps) + 1])
           for pi, ps in zip(used, positions)]
    slots = [[tid for t in targets for _, tid in items[k].targets[t]] for k in range(len(items))]
    width = max(len(ids) for ids in slots)
    own = [[slots[k] + [slots[k][-1]] * (width - len(slots[k])) for k in ks] for ks in per_prog]
    out = lens_at(model, cut, positions=positions, top_k=1, apply_norm=not raw, own_targets=own,
                  progress=scaled(progress, 0.0, 0.97), lens=checked_lens(lens, raw))
    column = {k: c for c, k in enumerate(k for ks in per_prog for k in ks)}
    lp = out.own.numpy()  # [n_layers, n_items, width]
    n, n_layers = len(items), lp.shape[0]
    values = {t: np.zeros((n, n_layers), dtype=np.float32) for t in targets}
    winner = {t: np.zeros((n, n_layers), dtype=np.int64) for t in targets}
    top1 = np.zeros((n, n_layers), dtype=np.int64)
    for k in range(n):
        c = column[k]
        start = 0
        for t in targets:
            count = len(items[k].targets[t])
            vals = lp[:, c, start:start + count]  # [n_layers, n_variants]
            values[t][k] = vals.max(axis=1)
            winner[t][k] = vals.argmax(axis=1)
            start += count
        top1[k] = out.top_ids[:, c, 0].numpy()
    return values, top1, winner


def _assemble(
    model: "HubModel",
    prep: _Prepared,
    items: list[_Item],
    targets: Sequence[str],
    skipped: dict[str, int],
    raw: bool,
    n_boot: int,
    seed: int,
    progress: Optional[Progress],
    notes: list[str],
    name: str,
    lens: str = "logit",
) -> Result:
    values, top1, winner = _lens_items(model, prep, items, targets, raw, progress, lens)
    n_layers = top1.shape[1]
    layers = list(range(n_layers))
    groups = np.array([it.program for it in items])
    curves = layer_curves({t: values[t] for t in targets}, groups, layers, n_boot, seed)
    a, b = targets[0], targets[1]
    difference = difference_curve(values[a], values[b], groups, layers, n_boot, seed)
    tok = model.tokenizer
    decoded: dict[int, str] = {}

    def dec(i: int) -> str:
        if i not in decoded:
            decoded[i] = tok.decode([int(i)], clean_up_tokenization_spaces=False)
        return decoded[i]

    item_logprobs = item_layer_table({t: values[t] for t in targets}, top1, layers, dec)
    wins: dict[tuple[str, str, str], int] = {}
    for t in targets:
        for k, it in enumerate(items):
            for w in winner[t][k]:
                v, tid = it.targets[t][int(w)]
                key = (t, v, dec(tid))
                wins[key] = wins.get(key, 0) + 1
    variants = pd.DataFrame([(*k, c) for k, c in wins.items()], columns=list(VARIANT_COLUMNS[:-1]))
    variants["share"] = variants["cells"] / variants.groupby("target")["cells"].transform("sum")
    variants = variants.sort_values(["target", "cells"], ascending=[True, False]).reset_index(drop=True)
    records = []
    for k, it in enumerate(items):
        p = prep.parsed[it.program]
        records.append({"item": k, "program": p.name, "position": it.position, **it.info})
    report(progress, 1.0, "Done")
    tables = {"curves": curves, "difference": difference, "items": pd.DataFrame.from_records(records),
              "item_logprobs": item_logprobs, "variants": variants}
    return result(name, tables, notes, skipped=skipped, num_layers=model.num_layers, raw=raw,
                  n_programs=len(set(groups.tolist())), contrast=f"{a} - {b}")


def _context(src: str, char: int) -> str:
    """The source around `char` on one line, with the position marked by '⟨⟩' after it."""
    line_start = src.rfind("\n", 0, char) + 1
    line_end = src.find("\n", char)
    line_end = len(src) if line_end < 0 else line_end
    left = src[max(line_start, char + 1 - CONTEXT_CHARS):char + 1]
    right = src[char + 1:min(line_end, char + 1 + CONTEXT_CHARS)]
    return f"{left}⟨⟩{right}"


def _check_boot(n_boot: int) -> None:
    if not 0 <= int(n_boot) <= 100_000:
        raise InputError("The number of bootstrap draws must lie in 0..100000.")


@experiment(
    name="code lists",
    summary="' and'/' or'/' not' vs next token at list commas (Fig. 8a)",
    description="Logit lens at the commas of list literals (HumanEval or your file): log p of ' and', "
                "' or', ' not' (and --extra-words) vs the true next token per layer. Writes layer,target,"
                "mean_logprob,ci_low,ci_high,n with target in {and, or, not, next}; the and - or "
                "difference, items, per-item values and winning surface forms go beside it.",
    page="code",
    tables=_lens_tables(LIST_ITEM_COLUMNS, ("and", "or", "not", "next"), "and - or"),
    params=(SOURCE,
            Param("sites", "list commas in code, in strings/docstrings, or both", choices=("all", "code", "strings")),
            Param("extra_words", "more words to track, comma-separated (e.g. etcétera)", many="comma",
                  metavar="WORD,WORD"),
            RAW, BOOTSTRAP, PROGRAMS, LENS),
    prepare=programs_kwargs,
    report=skipped_lines,
)
def list_literals(
    model: "HubModel",
    programs: Optional[Sequence[Program]] = None,
    raw: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
    max_programs: int = 164,
    max_tokens: int = MAX_TOKENS,
    sites: str = "all",
    extra_words: Sequence[str] = (),
    progress: Optional[Progress] = None,
    lens: str = "logit",
) -> Result:
    """Fig. 8a: per-layer lens log p of " and" / " or" / " not" and of the true next token at
    list-literal commas, 95% CI by bootstrap over programs.

    `sites`: "code" (list literals of the program's code), "strings" (list literals written in
    docstrings and other strings: `>>> f([1, 2, 3])`, expected outputs; most of HumanEval's
    lists are there) or "all" (both; the `in_string` column of `items` tells them apart).
    `extra_words` adds more word targets (e.g. "etc", "etcétera": on Gemma-3-270M the top-1
    lens reading of layer 12 at HumanEval list commas is " etcétera" for about 38% of them).

    Each word counts as the better of its space / no-space first tokens (table `variants` says
    which won). A comma that is not its own token end (merged into ", " etc.) is skipped and counted.
    `raw=True` skips the final norm (the paper's code).
    """
    _check_boot(n_boot)
    if sites not in ("all", "code", "strings"):
        raise InputError("sites must be 'all', 'code' or 'strings'.")
    report(progress, 0.0, "Parsing programs")
    prep = _prepare(model, programs, max_programs, max_tokens)
    skipped = dict(prep.skipped)
    tok = model.tokenizer
    extra = [w.strip() for w in extra_words if w and w.strip()]
    if len(extra) > 10 or any(w in LIST_TARGETS for w in extra):
        raise InputError("Give at most 10 extra words, none of them and/or/not/next.")
    words = {w: word_variants(tok, w) for w in ("and", "or", "not", *extra)}
    if any(not v for v in words.values()):
        raise InputError("Every word must encode to at least one token.")
    items: list[_Item] = []
    for pi, (p, enc) in enumerate(zip(prep.parsed, prep.encoded)):
        in_code = list_commas(p) if sites != "strings" else []
        in_str = set(string_list_commas(p)) if sites != "code" else set()
        commas = sorted(set(in_code) | in_str)
        if not commas:
            _count(skipped, "program_without_list_commas")
        for c in commas:
            t, why = _boundary_token(enc, c)
            if t is None:
                _count(skipped, f"comma_{why}")
                continue
            nxt = enc.ids[t + 1]
            targets = dict(words)
            targets["next"] = [("text", int(nxt))]
            items.append(_Item(program=pi, position=t, targets=targets, info={
                "char": c, "in_string": c in in_str, "context": _context(p.source, c),
                "next_token": tok.decode([nxt], clean_up_tokenization_spaces=False),
            }))
    if not items:
        reasons = ", ".join(f"{k}: {v}" for k, v in skipped.items()) or "no list literals"
        raise InputError(f"No list-literal comma could be used ({reasons}).")
    report(progress, 0.05, f"{len(items)} commas")
    n_str = sum(bool(it.info["in_string"]) for it in items)
    notes = [f"{len(items) - n_str} commas in code, {n_str} in strings (docstring examples)."]
    targets = ("and", "or", "not", *dict.fromkeys(extra), "next")
    return _assemble(model, prep, items, targets, skipped, raw, n_boot, seed,
                     scaled(progress, 0.05, 1.0), notes, "code lists", checked_lens(lens, raw))


def _is_generic(name: str) -> bool:
    return len(name) <= 1 or name.lower() in GENERIC_ROLES


@experiment(
    name="code roles",
    summary="parameter name vs argument before each argument (Fig. 8b)",
    description="Logit lens at the '(' or ',' before each positional call argument: log p of the "
                "parameter name it binds to vs the argument's own first token. Writes layer,target,"
                "mean_logprob,ci_low,ci_high,n with target in {role, argument}.",
    page="code",
    tables=_lens_tables(ROLE_ITEM_COLUMNS, ROLE_TARGETS, "role - argument"),
    params=(SOURCE, RAW, BOOTSTRAP, PROGRAMS, LENS),
    prepare=programs_kwargs,
    report=skipped_lines,
)
def semantic_roles(
    model: "HubModel",
    programs: Optional[Sequence[Program]] = None,
    raw: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
    max_programs: int = 164,
    max_tokens: int = MAX_TOKENS,
    include_doctests: bool = True,
    progress: Optional[Progress] = None,
    lens: str = "logit",
) -> Result:
    """Fig. 8b: at the "(" or "," before each positional argument, lens log p of the parameter
    name it binds to ("role", better of space / no-space first token) vs the argument's own
    first token (the token after the delimiter in the text), per layer.

    Skipped and counted (appendix A.2): unknown callees and builtins without a signature,
    starred arguments, generic roles (`obj`, `x`, `args`, `self`, `iterable`, one-letter names,
    see `python_source.GENERIC_ROLES`), arguments spelled like their role, roles whose token is
    the argument's token, and delimiters merged with neighbours (the "(" / "," is not a token
    end, or the next token does not begin the argument, e.g. a lone space before a digit).
    `include_doctests`: also the calls on `>>> ` lines of docstrings, bound to the program's own
    `def` (HumanEval's examples call the function being defined; column `in_doctest` of `items`).
    """
    _check_boot(n_boot)
    report(progress, 0.0, "Parsing programs")
    prep = _prepare(model, programs, max_programs, max_tokens)
    skipped = dict(prep.skipped)
    tok = model.tokenizer
    items: list[_Item] = []
    role_cache: dict[str, list[tuple[str, int]]] = {}
    for pi, (p, enc) in enumerate(zip(prep.parsed, prep.encoded)):
        code_calls = {(a.delimiter, a.arg_start) for a in call_arguments(p)}
        for arg in call_arguments(p, include_doctests):
            if arg.param is None:
                _count(skipped, arg.source)
                continue
            if _is_generic(arg.param):
                _count(skipped, "generic_role")
                continue
            if arg.arg_text.strip() == arg.param:
                _count(skipped, "argument_equals_role")
                continue
            t, why = _boundary_token(enc, arg.delimiter)
            if t is None:
                _count(skipped, why)
                continue
            s, e = enc.offsets[t + 1]
            if not (s <= arg.arg_start < e and not p.source[s:arg.arg_start].strip()):
                _count(skipped, "argument_token_split")  # next token does not begin the argument
                continue
            nxt = int(enc.ids[t + 1])
            if arg.param not in role_cache:
                role_cache[arg.param] = word_variants(tok, arg.param)
            role = role_cache[arg.param]
            if not role:
                _count(skipped, "role_without_token")
                continue
            if any(tid == nxt for _, tid in role):
                _count(skipped, "role_token_is_argument_token")
                continue
            items.append(_Item(program=pi, position=t, targets={"role": role, "argument": [("text", nxt)]}, info={
                "char": arg.delimiter, "in_doctest": (arg.delimiter, arg.arg_start) not in code_calls,
                "delimiter": arg.delimiter_char, "callee": arg.callee,
                "role": arg.param, "role_source": arg.source, "argument": arg.arg_text[:60],
                "argument_token": tok.decode([nxt], clean_up_tokenization_spaces=False),
                "context": _context(p.source, arg.delimiter),
            }))
    if not items:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(skipped.items())) or "no calls"
        raise InputError(f"No call argument could be used ({reasons}).")
    report(progress, 0.05, f"{len(items)} arguments")
    return _assemble(model, prep, items, ROLE_TARGETS, skipped, raw, n_boot, seed,
                     scaled(progress, 0.05, 1.0), [], "code roles", checked_lens(lens, raw))


# ---------------------------------------------------------------------------------------------
# range(x) -> range(0, x) steering (Fig. 12b)

SUCCESS = re.compile(r"\s*0\s*,")
# Measured on Gemma-3-270M (HumanEval, 21 calls): with scale="residual" strength 0.05 at layer 9
# turns 67% of the calls into range(0, ...) (unsteered 10%; reversed direction 0%; random
# directions of the same norm 0-14%). The raw strengths 0-8 change nothing on that model.
RESIDUAL_STRENGTHS = (0.0, 0.02, 0.05, 0.1)
RATE_COLUMNS = ["layer", "strength", "success_rate", "ci_low", "ci_high", "changed_rate", "n"]
GENERATION_COLUMNS = ("item", "program", "argument", "layer", "strength", "continuation", "success", "changed")


def steering_tokens(model: "HubModel", a: str = "start", b: str = "end") -> tuple[str, str]:
    """Surface forms of the two words for W_U[a] - W_U[b].

    After "(" the next token carries no leading space, so the no-space forms are used when both
    are single tokens; otherwise the space forms when both are single tokens; otherwise the
    no-space forms (their first tokens).
    """
    tok = model.tokenizer

    def single(s: str) -> bool:
        return len(tok(s, add_special_tokens=False)["input_ids"]) == 1

    if single(a) and single(b):
        return a, b
    if single(" " + a) and single(" " + b):
        return " " + a, " " + b
    return a, b


@experiment(
    name="code range-steer",
    summary="steer range(end) towards range(0, end) (Fig. 12b)",
    description="Adds s x (W_U['start'] - W_U['end']) at the '(' of single-argument range( calls and "
                "greedy-decodes; writes generations per (item, layer, strength) to --out and success "
                "rates to <out>_rates.csv (layer,strength,success_rate,ci_low,ci_high,changed_rate,n).",
    page="code",
    tables=(Table("generations", GENERATION_COLUMNS, "one greedy continuation per (item, layer, strength)"),
            Table("rates", tuple(RATE_COLUMNS), "share of range(0, ...) per (layer, strength), 95% CI")),
    params=(SOURCE, PROGRAMS,
            Param("layer", "layer 0..L (default: the middle block)", type=int),
            Param("strengths", "strengths (0, the unsteered baseline, is always run)", type=float, many="nargs"),
            Param("scale", "raw: multiply the unembedding difference (the paper); residual: strengths are "
                           "fractions of the hidden-state norm at '(' (try 0 0.02 0.05 0.1)",
                  choices=("raw", "residual"))),
    prepare=programs_kwargs,
)
def range_steer(
    model: "HubModel",
    programs: Optional[Sequence[Program]] = None,
    layer: Union[int, Sequence[int], None] = None,
    strengths: Sequence[float] = (0, 1, 2, 4, 8),
    max_new_tokens: int = 6,
    max_programs: int = 164,
    max_tokens: int = MAX_TOKENS,
    n_boot: int = 1000,
    seed: int = 0,
    words: tuple[str, str] = ("start", "end"),
    scale: str = "raw",
    progress: Optional[Progress] = None,
) -> Result:
    """Fig. 12b: prompt = program up to and including the "(" of each single-argument `range(`;
    add s x (W_U["start"] - W_U["end"]) at that "(" (the last prompt token) at `layer` (default
    `default_layer`; a list runs each), greedy-decode `max_new_tokens`. Success = the continuation begins
    with "0," (the call becomes range(0, ...)). All strengths of a layer run in ONE batched
    `sweep_generate`; rates carry a 95% bootstrap CI over items. Strength 0 is always run
    (the unsteered baseline; `changed` compares each row with it).

    `scale="raw"` adds s x (W_U[a] - W_U[b]) as the paper does. Its norm (about 1 on Gemma-3)
    can be tiny next to the residual stream (thousands on Gemma-3-270M), so `scale="residual"`
    rescales the direction to the median norm of the layer's state at the "(" over items:
    strength 1 then adds a vector as long as the state itself. The result gives both norms
    (values `vector_norm`, `residual_norm`), with `tokens`, `base_matches_argument` (share of
    items whose unsteered continuation begins the real argument), `n_items`, `skipped`.
    """
    from ..steering import sweep_generate, unembedding_difference

    top = model.num_layers
    layers = [default_layer(model)] if layer is None else ([int(layer)] if np.ndim(layer) == 0 else [int(l) for l in layer])  # type: ignore[arg-type]
    if not layers or any(not 0 <= l <= top for l in layers):
        raise InputError(f"Layers must lie in 0..{top} for this model.")
    strengths = sorted({float(s) for s in strengths} | {0.0})
    if not 1 <= int(max_new_tokens) <= 64:
        raise InputError("max_new_tokens must lie in 1..64.")
    _check_boot(n_boot)
    if scale not in ("raw", "residual"):
        raise InputError("scale must be 'raw' or 'residual'.")
    report(progress, 0.0, "Parsing programs")
    prep = _prepare(model, programs, max_programs, max_tokens)
    skipped = dict(prep.skipped)
    prompts, meta = [], []
    for p in prep.parsed:
        calls = single_arg_range_calls(p)
        if not calls:
            _count(skipped, "program_without_single_arg_range")
        for call in calls:
            prompts.append(p.source[:call.paren + 1])
            meta.append((p.name, call.arg_text))
    if not prompts:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(skipped.items())) or "none found"
        raise InputError(f"No single-argument range(...) call found ({reasons}).")
    a, b = steering_tokens(model, *words)
    vec = unembedding_difference(model, a, b)
    norms: dict[int, float] = {}
    cap = capture_encoded(model, encode(model.tokenizer, prompts, max_chars=max(len(t) for t in prompts)),
                          positions="last", layers=layers)
    stacked = cap.stacked()  # [N, n_layers, d]
    for j, l in enumerate(cap.layers):
        norms[l] = float(stacked[:, j].norm(dim=-1).median())
    frames = []
    for k, l in enumerate(layers):
        lo, hi = 0.05 + 0.95 * k / len(layers), 0.05 + 0.95 * (k + 1) / len(layers)
        v = vec if scale == "raw" else vec / vec.norm().clamp_min(1e-12) * norms[l]
        df = sweep_generate(model, prompts, v, l, strengths, positions="last",
                            max_new_tokens=max_new_tokens, greedy=True, progress=scaled(progress, lo, hi))
        frames.append(df.assign(layer=l))
    gen = pd.concat(frames, ignore_index=True).rename(columns={"coef": "strength"})
    gen["program"] = [meta[i][0] for i in gen["item"]]
    gen["argument"] = [meta[i][1] for i in gen["item"]]
    gen["success"] = [bool(SUCCESS.match(t)) for t in gen["continuation"]]
    base = gen[gen["strength"] == 0.0].set_index(["layer", "item"])["continuation"]
    gen["changed"] = [t != base[(l, i)] for l, i, t in zip(gen["layer"], gen["item"], gen["continuation"])]
    gen = gen[list(GENERATION_COLUMNS)]
    rows = []
    for (l, s), grp in gen.groupby(["layer", "strength"]):
        vals = grp["success"].to_numpy(dtype=float)
        mean, lo_, hi_ = bootstrap_ci(vals, np.arange(len(vals)), n_boot=n_boot, seed=seed)
        rows.append((int(l), float(s), float(mean[0]), float(lo_[0]), float(hi_[0]),
                     float(grp["changed"].mean()), len(grp)))
    rates = pd.DataFrame(rows, columns=RATE_COLUMNS)
    base0 = gen[(gen["strength"] == 0.0) & (gen["layer"] == layers[0])]
    matches = [_begins_argument(t, arg) for t, arg in zip(base0["continuation"], base0["argument"])]
    vnorm = float(vec.norm())
    notes = [
        f"Steering vector W_U[{a!r}] - W_U[{b!r}] has norm {vnorm:.3g}; the median residual norm at "
        "the '(' is " + ", ".join(f"{norms[l]:.3g} at layer {l}" for l in layers) + "."
        + (" Strengths are in units of that residual norm (scale='residual')." if scale == "residual" else ""),
    ]
    report(progress, 1.0, "Done")
    return result("code range-steer", {"generations": gen.reset_index(drop=True), "rates": rates}, notes,
                  skipped=skipped, tokens=(a, b), vector_norm=vnorm, residual_norm=norms,
                  base_matches_argument=float(np.mean(matches)), n_items=len(prompts), scale=scale,
                  layers=layers)


def _begins_argument(continuation: str, argument: str) -> bool:
    """Does the continuation start writing the real argument (or all of it, then more)?"""
    c, a = continuation.lstrip(), argument.strip()
    return bool(c) and (c.startswith(a) or a.startswith(c))


# ---------------------------------------------------------------------------------------------
# Figure 7: one layer's lens above every code token

STRIP_COLUMNS = ["position", "input_token", "char_start", "char_end", "top_token", "prob"]


def _strip_kwargs(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Fail fast (before any model load) on empty or oversized code."""
    check_text(values["code"])
    return dict(values), []


@experiment(
    name="code strip",
    summary="top lens token of one layer above every code token (Fig. 7)",
    description="The live lens strip: the top logit-lens token of one layer at every token of a "
                "snippet (what that layer predicts next). Writes position,input_token,char_start,"
                "char_end,top_token,prob (and rank with --top-k above 1).",
    page="code",
    tables=(Table("strip", tuple(STRIP_COLUMNS), "top lens token(s) at every position", open=True),),
    params=(Param("code", "the Python snippet (parsed by the tokenizer only, never run)", required=True),
            Param("layer", "layer 0..L to read (default: the middle block)", type=int),
            Param("top_k", "lens tokens kept per position", type=int, low=1, high=20),
            RAW, LENS),
    prepare=_strip_kwargs,
)
def lens_strip(
    model: "HubModel",
    code: str,
    layer: Optional[int] = None,
    top_k: int = 1,
    raw: bool = False,
    max_tokens: int = MAX_STRIP_TOKENS,
    progress: Optional[Progress] = None,
    lens: str = "logit",
) -> Result:
    """Top lens token(s) of `layer` (default `default_layer`) at every token of `code` (what that
    layer predicts next).

    Table `strip`: position, input_token, char_start, char_end, top_token, prob; with
    `top_k > 1` there are `top_k` rows per position and a `rank` column (1 = best). Special
    tokens (BOS) have char_start == char_end == 0. Values: `layer`, `num_layers`.
    """
    layer = default_layer(model) if layer is None else int(layer)
    if not 0 <= layer <= model.num_layers:
        raise InputError(f"Layer must lie in 0..{model.num_layers} for this model.")
    if not 1 <= int(top_k) <= 20:
        raise InputError("top_k must lie in 1..20.")
    code = check_text(code)
    enc = encode(model.tokenizer, [code])[0]
    if len(enc) > max_tokens:
        raise InputError(f"The code has {len(enc):,} tokens; this view takes at most {max_tokens:,}.")
    out = lens_at(model, [enc], positions="all", layers=[int(layer)], top_k=top_k, apply_norm=not raw,
                  lens=checked_lens(lens, raw), progress=progress)
    ids = out.top_ids[0].numpy()  # [P, k]
    probs = out.top_logprobs[0].exp().numpy()
    inputs = token_texts(model.tokenizer, enc.ids)
    tops = token_texts(model.tokenizer, sorted(set(ids.reshape(-1).tolist())))
    top_text = dict(zip(sorted(set(ids.reshape(-1).tolist())), tops))
    rows = []
    for pos in range(len(enc)):
        s, e = enc.offsets[pos]
        for r in range(ids.shape[1]):
            row = [pos, inputs[pos], int(s), int(e), top_text[int(ids[pos, r])], float(probs[pos, r])]
            if top_k > 1:
                row.append(r + 1)
            rows.append(row)
    strip = pd.DataFrame(rows, columns=STRIP_COLUMNS + (["rank"] if top_k > 1 else []))
    return result("code strip", {"strip": strip}, layer=layer, num_layers=model.num_layers)
