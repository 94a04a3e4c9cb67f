"""Which language is a hidden state "in"? p(language | h) through the logit lens (paper Fig. 4).

p(token | language) comes from word-frequency lists (PyPI `wordfreq`): each language's top words
are tokenised with the model's own tokenizer and every token of a word receives that word's
frequency (mid-sentence forms with a leading space weigh more than bare forms in languages that
use spaces). Bayes with a uniform prior over the chosen languages gives p(language | token); then
p(language | h) = sum_t p(language | t) p_lens(t | h). Tokens that no chosen language uses go to
"other". Per-language tables are cached on disk per tokenizer (npz, no pickle).
"""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np

from .cache import cache_root
from .errors import InputError

NO_SPACE_LANGUAGES = {"zh", "ja", "th", "my", "km", "lo"}
TABLE_VERSION = "v1"
LANGUAGE_NAMES = {
    "en": "English", "zh": "Chinese", "es": "Spanish", "fr": "French", "de": "German",
    "ja": "Japanese", "ru": "Russian", "it": "Italian", "pt": "Portuguese", "ko": "Korean",
    "ar": "Arabic", "nl": "Dutch", "pl": "Polish", "tr": "Turkish", "vi": "Vietnamese",
}


def supported_languages() -> list[str]:
    import wordfreq

    return sorted(wordfreq.available_languages(wordlist="best"))


def check_languages(languages: Sequence[str]) -> list[str]:
    """Normalise and validate language codes against what wordfreq has."""
    langs = [l.strip().lower() for l in languages if l and l.strip()]
    langs = list(dict.fromkeys(langs))
    if not langs:
        raise InputError("Choose at least one language (e.g. en, zh, es).")
    if "other" in langs:
        raise InputError("'other' is added automatically; choose real language codes.")
    known = set(supported_languages())
    bad = [l for l in langs if l not in known]
    if bad:
        raise InputError(
            f"No word-frequency list for {', '.join(bad)}; available: {', '.join(sorted(known))}."
        )
    return langs


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A stable hash of the tokenizer's vocabulary (so caches never mix tokenizers); memoised on
    the tokenizer object because serialising a 262k vocabulary takes a second."""
    cached = getattr(tokenizer, "_hubcore_fingerprint", None)
    if cached:
        return cached
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
    fingerprint = hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]
    try:
        tokenizer._hubcore_fingerprint = fingerprint
    except AttributeError:  # pragma: no cover - exotic tokenizer classes
        pass
    return fingerprint


def _token_distribution(tokenizer: Any, lang: str, n_words: int) -> tuple[np.ndarray, np.ndarray]:
    """(token ids, p(token | lang)) for one language."""
    import wordfreq

    words = wordfreq.top_n_list(lang, n_words, wordlist="best")
    freqs = np.array([wordfreq.word_frequency(w, lang, wordlist="best") for w in words])
    forms: list[tuple[str, float]] = []
    for w, f in zip(words, freqs):
        if lang in NO_SPACE_LANGUAGES:
            forms.append((w, f))
        else:
            forms += [(" " + w, 0.75 * f), (w, 0.25 * f)]
    ids = tokenizer([t for t, _ in forms], add_special_tokens=False)["input_ids"]
    weights: dict[int, float] = {}
    for (_, f), toks in zip(forms, ids):
        for t in toks:
            weights[t] = weights.get(t, 0.0) + f
    token_ids = np.fromiter(weights.keys(), dtype=np.int64)
    probs = np.fromiter(weights.values(), dtype=np.float64)
    return token_ids, probs / probs.sum()


def token_distribution(tokenizer: Any, lang: str, n_words: int = 5000) -> tuple[np.ndarray, np.ndarray]:
    """Cached `_token_distribution` (on disk, keyed on the tokenizer's fingerprint)."""
    key = f"{tokenizer_fingerprint(tokenizer)}-{lang}-{n_words}-{TABLE_VERSION}"
    path = cache_root() / "langprob" / f"{key}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                return data["ids"], data["probs"]
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)  # a damaged file is recomputed
    ids, probs = _token_distribution(tokenizer, lang, n_words)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, ids=ids, probs=probs)
    tmp.replace(path)
    return ids, probs


def language_mix(tokenizer: Any, vocab_size: int, languages: Sequence[str], n_words: int = 5000) -> Any:
    """`[vocab, n_languages]` float32 matrix of p(language | token) (uniform prior)."""
    import torch

    langs = check_languages(languages)
    table = np.zeros((vocab_size, len(langs)), dtype=np.float64)
    for j, lang in enumerate(langs):
        ids, probs = token_distribution(tokenizer, lang, n_words)
        keep = ids < vocab_size
        table[ids[keep], j] = probs[keep]
    total = table.sum(axis=1, keepdims=True)
    np.divide(table, total, out=table, where=total > 0)
    return torch.from_numpy(table.astype(np.float32))
