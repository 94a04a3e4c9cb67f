"""The offline parallel data sets: shape, counts, cleaning, held-out splits and the lexicon."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hubcore.data import parallel
from hubcore.data.parallel import (
    PairSet,
    asterisk_pairs,
    available_pair_sets,
    bilingual_lexicon,
    bundled_pairs,
    emoji_labels,
    emoji_pairs,
    find_pair_set,
    hsk_pairs,
    pair_source,
    sample_rows,
    split_held_out,
    text_source,
)
from hubcore.data.uploads import parse_pairs
from hubcore.errors import InputError

HAVE_ASTERISK = all(parallel.asterisk_file(lang).is_file() for lang in ("en", "es", "fr"))
HAVE_EMOJI = bool(parallel.emoji_locales())
needs_asterisk = pytest.mark.skipif(
    not HAVE_ASTERISK, reason="Debian asterisk-core-sounds-* missing"
)
needs_emoji = pytest.mark.skipif(not HAVE_EMOJI, reason="npm emojibase-data missing")

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
GERMAN_LETTERS = re.compile(r"[äöüÄÖÜß]")


def assert_well_formed(ps: PairSet, min_pairs: int = 1) -> None:
    assert isinstance(ps, PairSet)
    assert ps.name and ps.lang_a and ps.lang_b and ps.source and ps.lang_a != ps.lang_b
    assert len(ps) == len(ps.pairs) >= min_pairs
    for a, b in ps.pairs:
        for text in (a, b):
            assert isinstance(text, str) and text and text == text.strip()
            assert "\n" not in text and "\t" not in text
        assert a.casefold() != b.casefold()
    assert len({a for a, _ in ps.pairs}) == len(ps.pairs), "side a must be unique"
    assert len({b for _, b in ps.pairs}) == len(ps.pairs), "side b must be unique"


# ----------------------------------------------------------------------------- HSK


def test_hsk_counts_and_cleaning() -> None:
    from hsk_sentences_audio import load_sentences

    assert len(load_sentences()) == 4354
    ps = hsk_pairs()
    assert_well_formed(ps, min_pairs=4000)
    assert (ps.lang_a, ps.lang_b) == ("zh", "en")
    assert "4,354 sentences" in ps.note and "placeholder" in ps.note
    assert all(JAPANESE.search(zh) for zh, _ in ps.pairs)  # Chinese side is Chinese
    assert not any(
        JAPANESE.search(en) or en.lower().startswith("placeholder") for _, en in ps.pairs
    )
    assert ("老师，您好！", "Hello, teacher!") in ps.pairs


def test_hsk_levels() -> None:
    level1 = hsk_pairs(max_level=1)
    assert 200 < len(level1) < len(hsk_pairs(max_level=3)) < len(hsk_pairs())
    with pytest.raises(InputError, match="HSK level"):
        hsk_pairs(max_level=9)


# ----------------------------------------------------------------------------- Asterisk


@needs_asterisk
@pytest.mark.parametrize(
    "a,b,minimum", [("en", "es", 300), ("es", "en", 300), ("fr", "en", 300), ("es", "fr", 300)]
)
def test_asterisk_pairs(a: str, b: str, minimum: int) -> None:
    ps = asterisk_pairs(a, b)
    assert_well_formed(ps, min_pairs=minimum)
    assert (ps.lang_a, ps.lang_b) == (a, b)
    for x, y in ps.pairs:
        for text in (x, y):
            assert len(text) >= 3 and "[" not in text and "(" not in text
            assert not re.fullmatch(r"(\w )*\w|\d+", text)  # no bare letters or digits


@needs_asterisk
def test_asterisk_content_and_options() -> None:
    pairs = dict(asterisk_pairs("es", "en").pairs)
    assert pairs.get("treinta") == "thirty"
    assert "Tango" not in pairs  # the spelling alphabet is not a translation
    longer = asterisk_pairs("es", "en", min_words=3)
    assert 150 < len(longer) < len(pairs)
    assert all(len(a.split()) >= 3 and len(b.split()) >= 3 for a, b in longer.pairs)


def test_asterisk_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="en, es, fr"):
        asterisk_pairs("de", "en")
    with pytest.raises(InputError, match="different"):
        asterisk_pairs("es", "es")
    monkeypatch.setenv("HUBCORE_ASTERISK_DIR", str(tmp_path))
    with pytest.raises(InputError, match="asterisk-core-sounds-es"):
        asterisk_pairs("es", "en")


# ----------------------------------------------------------------------------- emoji


@needs_emoji
def test_emoji_labels_table() -> None:
    table = emoji_labels(["en", "es", "zh"])
    assert list(table.columns) == ["hexcode", "en", "es", "zh"]
    assert len(table) > 1500 and table.notna().all().all()
    assert not table["en"].str.startswith("regional indicator").any()
    dog = table[table["hexcode"] == "1F415"].iloc[0]
    assert (dog["en"], dog["es"], dog["zh"]) == ("dog", "perro", "狗")


@needs_emoji
@pytest.mark.parametrize("lang", ["es", "fr", "de", "zh", "ja"])
def test_emoji_pairs(lang: str) -> None:
    ps = emoji_pairs(lang, "en")
    assert_well_formed(ps, min_pairs=1500)
    assert not any(re.search(r"\d", a + b) for a, b in ps.pairs)


def test_emoji_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if HAVE_EMOJI:
        with pytest.raises(InputError, match="no emoji labels"):
            emoji_pairs("xx", "en")
    monkeypatch.setenv("HUBCORE_EMOJIBASE_DIR", str(tmp_path))
    with pytest.raises(InputError, match="scripts/install-data.sh"):
        emoji_pairs("es", "en")
    with pytest.raises(InputError, match="emojibase-data"):
        emoji_labels(["en"])


# ----------------------------------------------------------------------------- handwritten


@pytest.mark.parametrize("code", ["de", "ja"])
def test_bundled_sets(code: str) -> None:
    ps = bundled_pairs(code)
    assert_well_formed(ps, min_pairs=160)
    assert (ps.lang_a, ps.lang_b) == (code, "en")
    assert bundled_pairs(f"en_{code}").pairs == ps.pairs
    # the shipped file is a valid upload too (no header, no duplicates, nothing sampled away)
    raw = (parallel.PAIRS_DIR / f"en_{code}.tsv").read_bytes()
    rows, notes = parse_pairs(raw, f"en_{code}.tsv")
    assert notes == [] and [(b, a) for a, b in rows] == ps.pairs


def test_bundled_languages_look_right() -> None:
    german, japanese = bundled_pairs("de").pairs, bundled_pairs("ja").pairs
    assert all(JAPANESE.search(ja) and not re.search(r"[A-Za-z]", ja) for ja, _ in japanese)
    assert not any(JAPANESE.search(de) for de, _ in german)
    assert sum(bool(GERMAN_LETTERS.search(de)) for de, _ in german) > 0.2 * len(german)
    assert (
        sum(bool(re.search(r"\b(ich|ist|der|die|das|nicht)\b", de, re.I)) for de, _ in german) > 60
    )
    # the two sets translate the same English sentences, so de-ja is parallel too
    assert [en for _, en in german] == [en for _, en in japanese]


def test_bundled_unknown_name() -> None:
    with pytest.raises(InputError, match="en_de"):
        bundled_pairs("klingon")


# ----------------------------------------------------------------------------- catalogue


def test_available_pair_sets() -> None:
    sets = available_pair_sets()
    for name in [
        "Chinese–English (HSK sentences)",
        "Spanish–English (Asterisk prompts)",
        "French–English (Asterisk prompts)",
        "German–English (handwritten)",
        "Japanese–English (handwritten)",
        "Spanish–English (emoji labels)",
    ]:
        assert name in sets
    installed = available_pair_sets(only_installed=True)
    assert set(installed) <= set(sets)
    for name, load in installed.items():
        ps = load()
        assert_well_formed(ps, min_pairs=150)
        assert ps.name == name


# ----------------------------------------------------------------------------- held-out split


def test_split_held_out() -> None:
    items = [(f"a{i}", f"b{i}") for i in range(101)]
    kept, held = split_held_out(items, fraction=0.2, seed=3)
    assert len(held) == 20 and len(kept) == 81
    assert not set(kept) & set(held) and set(kept) | set(held) == set(items)
    assert kept == sorted(kept, key=items.index) and held == sorted(held, key=items.index)
    assert split_held_out(items, 0.2, 3) == (kept, held)
    assert split_held_out(items, 0.2, 4)[1] != held
    assert (
        split_held_out(bundled_pairs("de"), 0.25)[1]
        == split_held_out(bundled_pairs("de").pairs, 0.25)[1]
    )
    assert split_held_out(items[:2], 0.01)[1] and split_held_out(items[:2], 0.99)[0]
    assert split_held_out(items, 0.0) == (items, [])
    for bad in (-0.1, 1.0, 2):
        with pytest.raises(InputError):
            split_held_out(items, bad)


# ----------------------------------------------------------------------------- lexicon


def _assert_single_words(lexicon: dict[str, str]) -> None:
    for src, tgt in lexicon.items():
        assert src and tgt and " " not in src and " " not in tgt
        assert src.casefold() != tgt.casefold()
        assert re.fullmatch(r"[^\W\d_]+(?:['-][^\W\d_]+)*", tgt), tgt


@needs_emoji
def test_lexicon_spanish_german() -> None:
    es = bilingual_lexicon("es")
    assert len(es) > 300 and es.get("perro") == "dog" and es.get("gato") == "cat"
    _assert_single_words(es)
    de = bilingual_lexicon("de")
    assert de.get("Hund") == "dog"  # German nouns keep their capital
    _assert_single_words(de)


def test_lexicon_chinese() -> None:
    zh = bilingual_lexicon("zh")
    assert len(zh) > 1000
    _assert_single_words(zh)
    assert zh.get("老师") == "teacher" and zh.get("吃") == "eat"
    assert (
        "比" not in zh or zh["比"] != "Belgium"
    )  # first CEDICT sense checked against the sentence
    assert "是" not in zh  # "to be": grammatical, dropped


def test_lexicon_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(InputError):
        bilingual_lexicon("en", "en")
    monkeypatch.setenv("HUBCORE_EMOJIBASE_DIR", str(tmp_path))
    with pytest.raises(InputError, match="install-data"):
        bilingual_lexicon("ko")


# ----------------------------------------------------------------------------- sources (CLI + page)


def test_pair_source_reads_a_file_or_a_built_in_set(tmp_path: Path) -> None:
    # a built-in set by its name (or typed loosely), sampled like an uploaded file
    name = "German–English (handwritten)"
    assert find_pair_set("german-english  (HANDWRITTEN)") == name and find_pair_set("nope") is None
    full = bundled_pairs("de")
    ps, notes = pair_source(name, max_rows=20)
    assert (ps.lang_a, ps.lang_b, ps.name) == ("de", "en", name) and len(ps) == 20
    assert notes == [f"Sampled 20 of {len(full):,} rows (seed 0)."]
    path = tmp_path / "de.tsv"
    path.write_text("".join(f"{a}\t{b}\n" for a, b in full.pairs), encoding="utf-8")
    from_file, file_notes = pair_source(str(path), max_rows=20)
    assert from_file.pairs == ps.pairs and file_notes == notes and from_file.lang_a == ""
    # the upload's bytes win over the name; a name that is neither is one sentence
    uploaded, _ = pair_source("mine.tsv", data=b"hola\thello\nperro\tdog\n")
    assert uploaded.pairs == [("hola", "hello"), ("perro", "dog")] and uploaded.name == "mine.tsv"
    with pytest.raises(InputError, match=r"Could not read 'nope.tsv': .*built-in sets: 'Chinese–English"):
        pair_source("nope.tsv")
    with pytest.raises(InputError, match="positive"):
        pair_source(name, max_rows=0)


def test_text_source_is_the_first_column_of_a_set(tmp_path: Path) -> None:
    texts, lang, notes = text_source("Japanese–English (handwritten)", max_rows=5)
    assert lang == "ja" and len(texts) == 5 and notes and all(JAPANESE.search(t) for t in texts)
    assert set(texts) <= {a for a, _ in bundled_pairs("ja").pairs}
    path = tmp_path / "t.txt"
    path.write_text("uno\n\ndos\n", encoding="utf-8")
    assert text_source(str(path)) == (["uno", "dos"], "", [])
    with pytest.raises(InputError, match="no built-in text set"):
        text_source(str(tmp_path / "missing.txt"))


def test_sample_rows_is_the_upload_rule() -> None:
    rows = [(f"a{i}", f"b{i}") for i in range(50)]
    data = "".join(f"{a}\t{b}\n" for a, b in rows).encode()
    assert sample_rows(rows, 7, seed=2) == parse_pairs(data, "x.tsv", max_rows=7, seed=2)
    assert sample_rows(rows, 50) == (rows, [])


def test_sources_import_no_private_names() -> None:
    """One module per source; shared helpers are public (no `from .x import _y`)."""
    import ast

    folder = Path(parallel.__file__).parent
    assert {p.stem for p in folder.glob("*.py")} >= {"common", "hsk", "asterisk", "emoji",
                                                     "handwritten", "lexicon", "catalogue"}
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert not [a.name for a in node.names if a.name.startswith("_")], path.name
