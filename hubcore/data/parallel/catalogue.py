"""The built-in sets by readable name, and one way to name the input of a multilingual run:
an uploaded file's bytes, a file path, or a built-in set name.

The same source string serves the CLI (`--pairs`, `--texts`), the page (its set picker) and the
"reproduce this run" command, so a page run on a built-in set reproduces as is. A built-in
*text* set is the first column of a pair set (the non-English side).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable, Optional

from ...errors import InputError
from ..uploads import parse_pairs, parse_texts
from .asterisk import asterisk_file, asterisk_pairs
from .common import PairSet, language_name, sample_rows
from .emoji import emoji_pairs, has_emoji_locale
from .handwritten import BUNDLED, bundled_pairs
from .hsk import hsk_pairs


def available_pair_sets(only_installed: bool = False) -> dict[str, Callable[[], PairSet]]:
    """Readable name -> zero-argument loader for every built-in set.

    Loaders raise `InputError` when their package is missing; `only_installed=True` leaves out
    sets whose files are absent so a picker offers only what works on this machine.
    """
    sets: dict[str, tuple[Callable[[], PairSet], Callable[[], bool]]] = {}

    def have_asterisk(*langs: str) -> Callable[[], bool]:
        return lambda: all(asterisk_file(lang).is_file() for lang in langs)

    def have_emoji(*langs: str) -> Callable[[], bool]:
        return lambda: all(has_emoji_locale(lang) for lang in langs)

    sets["Chinese–English (HSK sentences)"] = (hsk_pairs, lambda: True)
    for code in BUNDLED:
        sets[f"{language_name(code)}–English (handwritten)"] = (
            functools.partial(bundled_pairs, code),
            lambda: True,
        )
    for a, b in (("es", "en"), ("fr", "en"), ("es", "fr")):
        sets[f"{language_name(a)}–{language_name(b)} (Asterisk prompts)"] = (
            functools.partial(asterisk_pairs, a, b),
            have_asterisk(a, b),
        )
    for code in ("es", "fr", "de", "zh", "ja"):
        sets[f"{language_name(code)}–English (emoji labels)"] = (
            functools.partial(emoji_pairs, code, "en"),
            have_emoji(code, "en"),
        )
    return {name: load for name, (load, present) in sets.items() if not only_installed or present()}


def _loose(name: str) -> str:
    """A set name as typed on a command line: case, dashes and spacing do not matter."""
    return " ".join(name.replace("–", "-").replace("—", "-").casefold().split())


def find_pair_set(name: str) -> Optional[str]:
    """The catalogue name `name` stands for ("chinese-english (hsk sentences)" works too)."""
    sets = available_pair_sets()
    if name in sets:
        return name
    return next((key for key in sets if _loose(key) == _loose(name)), None)


def set_names() -> str:
    """The built-in set names, quoted, for help texts and error messages."""
    return "; ".join(f"'{name}'" for name in available_pair_sets())


def _read(source: str, data: Optional[bytes]) -> Optional[bytes]:
    """The bytes of an upload or of the file `source`; None when `source` names no file."""
    if data is not None:
        return bytes(data)
    path = Path(source)
    if not path.exists():
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"Could not read '{source}': {exc.strerror or exc}.") from exc


def _builtin(source: str, what: str) -> PairSet:
    name = find_pair_set(source)
    if name is None:
        raise InputError(f"Could not read '{source}': there is no such file and no built-in {what} "
                         f"set of that name (built-in sets: {set_names()}).")
    return available_pair_sets()[name]()


def pair_source(source: str, max_rows: int = 5000,
                data: Optional[bytes] = None) -> tuple[PairSet, list[str]]:
    """Translation pairs from an upload's bytes (`data`, named `source`), the file `source`, or
    the built-in set named `source`, at most `max_rows` of them (a seeded sample), plus notes.

    A file's languages are unknown (`lang_a` = `lang_b` = "").
    """
    if not isinstance(max_rows, int) or max_rows < 1:
        raise InputError(f"The row limit must be a positive whole number, got {max_rows!r}.")
    raw = _read(source, data)
    if raw is not None:
        pairs, notes = parse_pairs(raw, source or "upload", max_rows=max_rows)
        return PairSet(name=Path(source).name, lang_a="", lang_b="", pairs=pairs, source=source), notes
    pset = _builtin(source, "pair")
    pairs, notes = sample_rows(pset.pairs, max_rows)
    return PairSet(pset.name, pset.lang_a, pset.lang_b, pairs, pset.source, pset.note), notes


def text_source(source: str, max_rows: int = 5000,
                data: Optional[bytes] = None) -> tuple[list[str], str, list[str]]:
    """(texts, language, notes): one text per line of an upload or file, or the first column
    of the built-in set named `source` (its language; "" for a file), at most `max_rows`."""
    if not isinstance(max_rows, int) or max_rows < 1:
        raise InputError(f"The row limit must be a positive whole number, got {max_rows!r}.")
    raw = _read(source, data)
    if raw is not None:
        texts, notes = parse_texts(raw, source or "upload", max_rows=max_rows)
        return texts, "", notes
    pset = _builtin(source, "text")
    texts, notes = sample_rows([a for a, _ in pset.pairs], max_rows, what="line")
    return texts, pset.lang_a, notes
