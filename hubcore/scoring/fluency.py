"""Scores of generated text besides sentiment: fluency (perplexity of the continuation under the
unsteered model), relevance to the prompt (lexical), and the share written in the prompt's language.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any, Sequence

from ..models.memo import ModelMemo

if TYPE_CHECKING:
    from ..models.handle import Handle as HubModel

# a continuation scored before on this loaded model (a slider move keeps the unsteered column)
_perplexities = ModelMemo(4096)


def continuation_perplexity(model: "HubModel", inputs: Sequence[str], new_ids: Sequence[Sequence[int]]) -> list[float]:
    """Perplexity of each continuation under the UNSTEERED model, given its input.

    Runs the blocks once over input + continuation and reads, inside the trace, only the
    log-probability of each continuation token at the position that predicts it (the lens at
    the last layer is the model's own distribution). Empty continuations get NaN. A pair scored
    before on this loaded model (local runs) is not run again: its perplexity was computed in
    another batch, so it may differ from a fresh one by float rounding (~1e-6 relative).
    """
    import torch

    from ..lens import lens_at
    from ..tokens import Encoded, encode

    result = [float("nan")] * len(inputs)
    keys = [(str(text), tuple(int(t) for t in ids)) for text, ids in zip(inputs, new_ids)]
    recalled = {n: known for n, key in enumerate(keys)
                if key[1] and (known := _perplexities.recall(model, key)) is not None}
    for n, known in recalled.items():
        result[n] = known
    enc = encode(model.tokenizer, list(inputs))
    full, want, keep = [], [], []
    for n, (e, ids) in enumerate(zip(enc, new_ids)):
        if not ids or n in recalled:
            continue
        seq = list(e.ids) + list(ids)[:-1]
        full.append(Encoded(ids=seq, offsets=[(0, 0)] * len(seq)))
        want.append(list(range(len(e) - 1, len(seq))))
        keep.append(n)
    if not full:
        return result
    own = [[[int(t)] for t in new_ids[n]] for n in keep]
    out = lens_at(model, full, positions=want, layers=[model.num_layers], top_k=1, own_targets=own)
    for n, part in zip(keep, out.split()):
        nll = -part.own[0, :, 0].to(torch.float64).mean()
        result[n] = float(torch.exp(nll))
        _perplexities.remember(model, keys[n], result[n])
    return result


def relevance(prefixes: Sequence[str], continuations: Sequence[str]) -> list[float]:
    """Cosine of character 2-4-gram TF-IDF vectors of each prefix and its continuation.

    Lexical and language-agnostic: it says whether the continuation keeps the prefix's words
    and script (a Spanish prefix continued in English scores low), not whether it is on topic.
    """
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = list(prefixes) + list(continuations)
    if not any(t.strip() for t in texts):
        return [0.0] * len(prefixes)
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), lowercase=True)
    m = vec.fit_transform(texts)
    a, b = m[: len(prefixes)], m[len(prefixes):]
    sims = np.asarray(a.multiply(b).sum(axis=1)).ravel()  # rows are L2-normalised
    return [float(x) for x in sims]


def language_match(texts: Sequence[str], lang: str) -> list[float]:
    """Share of each text written in `lang`: CJK share of letters for "zh"; for "es"/"en" the
    share of words more frequent in `lang` than in the other (wordfreq). NaN for no letters.

    Flags steering that pushes text into another language (a large coefficient tends to switch
    Gemma-3-270M to English), where the language's sentiment scorer stops meaning much.
    """
    import re

    from wordfreq import zipf_frequency

    out = []
    for text in texts:
        letters = [ch for ch in text if ch.isalpha()]
        if not letters:
            out.append(float("nan"))
            continue
        if lang == "zh":
            out.append(sum(1 for ch in letters if "\u4e00" <= ch <= "\u9fff") / len(letters))
            continue
        other = "en" if lang != "en" else "es"
        words = re.findall(r"[^\W\d_]+", text.lower())
        hits = [_in_latin_language(w, lang, other, zipf_frequency) for w in words]
        out.append(sum(hits) / len(hits) if hits else float("nan"))
    return out


def _in_latin_language(word: str, lang: str, other: str, zipf: Any) -> bool:
    """A word is in `lang` if it is at least as frequent there as in `other`; words unknown to
    both count when they are written in the Latin script (names, typos), not otherwise."""
    a, b = zipf(word, lang), zipf(word, other)
    if a == 0 and b == 0:
        return all("LATIN" in unicodedata.name(ch, "") for ch in word)
    return a >= b
