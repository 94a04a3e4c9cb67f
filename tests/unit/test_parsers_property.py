"""Property tests (hypothesis) for every parser of user-supplied text or files.

- uploads (`decode_upload`, `parse_pairs`, `parse_texts`): arbitrary bytes raise nothing but
  `InputError`; valid files round-trip with any BOM / newline / delimiter; Latin-1 files are
  named with the line that failed.
- code (`load_user_code`, `parse_programs` and the ast locators): arbitrary bytes or text raise
  nothing but `InputError` (loading) and never raise while parsing (bad snippets are skipped);
  on generated Python with non-ASCII names and strings every offset a locator returns points at
  the character it claims (the byte/character column conversion is where this breaks).
- small text parsers: `check_text`, `apply_template`, `check_languages`, `examples_from_pairs`,
  `parse_cedict_line`.

HUBCORE_HYPOTHESIS_EXAMPLES raises the example count for a deeper search.
"""

from __future__ import annotations

import csv
import io
import os

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from hubcore.data.cedict import parse_cedict_line
from hubcore.text.python_source import (Program, call_arguments, humaneval_programs, list_commas,
                                  load_user_code, parse_programs, single_arg_range_calls,
                                  string_list_commas)
from hubcore.data.uploads import _looks_like_header, decode_upload, parse_pairs, parse_texts
from hubcore.errors import InputError
from hubcore.experiments.multilingual import apply_template
from hubcore.experiments.semantics import examples_from_pairs
from hubcore.langprob import check_languages
from hubcore.tokens import MAX_TEXT_CHARS, check_text

SETTINGS = settings(
    max_examples=int(os.environ.get("HUBCORE_HYPOTHESIS_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
BOM = b"\xef\xbb\xbf"

# bytes a hostile or broken upload might hold: anything, plus near-text mixtures
any_bytes = st.one_of(
    st.binary(max_size=800),
    st.text(st.sampled_from('ab é,;\t"\'\n\r\x00\x01\x7f中\ufeff\u2028'), max_size=300).map(
        lambda t: t.encode("utf-8")),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.text(max_size=200).map(lambda t: t.encode("latin-1", "replace")),
    st.text(max_size=100).map(lambda t: t.encode("utf-16")),
    st.builds(lambda b: BOM + b, st.binary(max_size=200)),
)
# a cell a user could type: no control characters or surrogates, no surrounding whitespace
cell = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=25).map(str.strip).filter(bool)


# ----------------------------------------------------------------------------------- uploads


@SETTINGS
@given(data=any_bytes, filename=st.sampled_from(["x.tsv", "x.csv", "x.txt", "upload", "", "X.CSV"]))
@example(data=b"\x1f", filename="x.tsv")  # found by hypothesis: str-whitespace only, was returned as text
@example(data=BOM + BOM, filename="x.tsv")  # found by hypothesis: a second BOM was returned as text
def test_decode_upload_raises_only_input_errors(data, filename):
    try:
        text = decode_upload(data, filename)
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert isinstance(text, str) and text.strip() and "\x00" not in text
        assert not text.startswith("\ufeff")


@SETTINGS
@given(data=any_bytes, filename=st.sampled_from(["x.tsv", "x.csv", "x.txt", "upload"]),
       max_rows=st.integers(1, 4), seed=st.integers(0, 3))
def test_pair_and_text_parsers_raise_only_input_errors(data, filename, max_rows, seed):
    for parse in (parse_pairs, parse_texts):
        try:
            items, notes = parse(data, filename, max_rows=max_rows, seed=seed)
        except InputError as exc:
            assert str(exc) and "Traceback" not in str(exc)
        else:
            assert 1 <= len(items) <= max_rows
            assert len(set(items)) == len(items)  # duplicates removed
            assert all(isinstance(n, str) for n in notes)
            flat = [x for item in items for x in (item if isinstance(item, tuple) else (item,))]
            assert all(x == x.strip() and x and len(x) <= MAX_TEXT_CHARS for x in flat)


@SETTINGS
@given(pairs=st.lists(st.tuples(cell, cell), min_size=1, max_size=12, unique=True),
       delimiter=st.sampled_from(["\t", ",", ";"]), newline=st.sampled_from(["\n", "\r\n", "\r"]),
       bom=st.booleans(), quote_all=st.booleans())
def test_pairs_round_trip(pairs, delimiter, newline, bom, quote_all):
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=newline,
               quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL).writerows(pairs)
    data = (BOM if bom else b"") + buffer.getvalue().encode("utf-8")
    ext = "tsv" if delimiter == "\t" else "csv"
    expected = pairs[1:] if _looks_like_header(pairs[0]) else pairs
    assume(expected)
    # a cell holding the other candidate delimiters can make another split plausible; the
    # extension breaks ties, so only files whose cells avoid the other delimiters must round-trip
    others = {"\t", ",", ";"} - {delimiter}
    assume(not any(ch in a + b for a, b in pairs for ch in others))
    got, notes = parse_pairs(data, f"upload.{ext}")
    assert got == expected


@SETTINGS
@given(texts=st.lists(cell.filter(lambda t: not any(c in t for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")),
                      min_size=1, max_size=12, unique=True),
       newline=st.sampled_from(["\n", "\r\n"]), bom=st.booleans())
def test_texts_round_trip(texts, newline, bom):
    data = (BOM if bom else b"") + newline.join(texts).encode("utf-8")
    got, notes = parse_texts(data, "lines.txt")
    assert got == texts and notes == []


@SETTINGS
@given(lines=st.lists(st.tuples(cell, cell), min_size=1, max_size=6),
       bad_line=st.integers(0, 5), word=st.sampled_from(["café", "naïve", "Müller", "señor"]))
def test_latin1_is_named_with_its_line(lines, bad_line, word):
    """One Latin-1 cell anywhere: the error names that line and the likely encoding."""
    assume(all(a.isascii() and b.isascii() and "\t" not in a + b for a, b in lines))
    bad_line = bad_line % len(lines)
    rows = [f"{a}\t{b}".encode("utf-8") for a, b in lines]
    rows[bad_line] = f"{word}\tx".encode("latin-1")
    with pytest.raises(InputError, match=f"Line {bad_line + 1} of f.tsv is not valid UTF-8.*Latin-1"):
        parse_pairs(b"\n".join(rows), "f.tsv")


# -------------------------------------------------------------------------------------- code


@SETTINGS
@given(data=any_bytes)
@example(data=b"\xef\xbb\xbfprint('hi')\n")
def test_load_user_code_raises_only_input_errors_and_parsing_never_raises(data):
    try:
        programs = load_user_code(data, "up.py")
    except InputError as exc:
        assert str(exc)
        return
    assert len(programs) == 1 and "\r" not in programs[0].source
    parsed, skipped = parse_programs(programs)
    assert len(parsed) + sum(skipped.values()) == 1
    for p in parsed:
        list_commas(p, include_strings=True), call_arguments(p, include_doctests=True)
        single_arg_range_calls(p)


NAMES = st.sampled_from(["x", "n", "xs", "über", "名字", "café", "end", "start"])
STRINGS = st.sampled_from(['"a, b"', "'é, ü'", '"[1, 2]"', "'中, 文'", '""', "'''x, y'''"])
NUMBERS = st.integers(-5, 99).map(str)
atom = st.one_of(NAMES, STRINGS, NUMBERS)
expr = st.recursive(
    atom,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(inner, min_size=2, max_size=3).map(lambda xs: "(" + ", ".join(xs) + ")"),
        st.tuples(st.sampled_from(["f", "g", "range", "len", "sorted", "xs.append"]),
                  st.lists(inner, max_size=3)).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
        st.tuples(inner, st.sampled_from([" + ", " * ", " - "]), inner).map("".join),
    ),
    max_leaves=8,
)
statement = st.one_of(
    st.tuples(NAMES, expr).map(lambda t: f"{t[0]} = {t[1]}"),
    expr,
    expr.map(lambda e: f"for i in range({e}):\n    pass"),
    st.tuples(expr, STRINGS).map(lambda t: f"y = {t[0]}  # comment, with [a, b]\nz = {t[1]}"),
)
program = st.tuples(st.lists(statement, min_size=1, max_size=5), st.booleans()).map(
    lambda t: ("def f(n, xs, über=1):\n    \"\"\"Doc: [1, 2, 3] and f(2, 3).\"\"\"\n"
               + "\n".join("    " + line.replace("\n", "\n    ") for line in t[0]) + "\n")
    if t[1] else "\n".join(t[0]) + "\n")


@SETTINGS
@given(src=program)
def test_code_locators_point_at_what_they_claim(src):
    parsed, skipped = parse_programs([Program("gen", src)])
    # a lone expression line reads like prose, so it may be skipped as not_python, never more
    assert set(skipped) <= {"not_python"}, (skipped, src)
    assume(parsed)
    p = parsed[0]
    for off in list_commas(p):
        assert p.source[off] == ","
    for off in string_list_commas(p):
        assert p.source[off] == ","
    for arg in call_arguments(p, include_doctests=True):
        assert p.source[arg.delimiter] == arg.delimiter_char
        assert p.source[arg.arg_start:arg.arg_end] == arg.arg_text
        assert arg.delimiter < arg.arg_start
    for call in single_arg_range_calls(p):
        assert p.source[call.paren] == "(" and p.source[:call.paren].endswith("range")
        assert p.source[call.arg_start:].startswith(call.arg_text)


@SETTINGS
@given(index=st.integers(0, 163), cut=st.tuples(st.floats(0, 1), st.floats(0, 1)),
       noise=st.sampled_from(["", "\x00", "(", "'''", "\t", "é", "\r"]))
def test_truncated_humaneval_programs_are_skipped_not_raised(index, cut, noise):
    prog = humaneval_programs()[index]
    lo, hi = sorted(int(c * len(prog.source)) for c in cut)
    snippet = prog.source[lo:hi] + noise
    parsed, skipped = parse_programs([Program("cut", snippet)])
    assert len(parsed) + sum(skipped.values()) == 1
    for p in parsed:
        for off in list_commas(p, include_strings=True):
            assert p.source[off] == ","


# ------------------------------------------------------------------------- small text parsers


@SETTINGS
@given(text=st.text(max_size=300) | st.text(st.sampled_from("\x00 \t\n\udcff"), max_size=20))
def test_check_text(text):
    try:
        out = check_text(text)
    except InputError as exc:
        assert str(exc)
    else:
        assert out.strip() and "\x00" not in out and len(out) <= MAX_TEXT_CHARS
        out.encode("utf-8")  # always encodable for the tokenizer


@SETTINGS
@given(template=st.text(st.sampled_from("{}ab {sentence}"), max_size=30), text=st.text(max_size=20))
def test_apply_template(template, text):
    try:
        out = apply_template(template, text)
    except InputError as exc:
        assert "exactly one {}" in str(exc)
    else:
        assert text.strip() in out


@SETTINGS
@given(codes=st.lists(st.text(st.sampled_from("enzhxo ,?"), max_size=4), max_size=4))
def test_check_languages(codes):
    try:
        langs = check_languages(codes)
    except InputError as exc:
        assert str(exc)
    else:
        assert langs and len(set(langs)) == len(langs) and "other" not in langs


@SETTINGS
@given(pairs=st.lists(st.tuples(st.text(max_size=30), st.text(max_size=40)), max_size=5))
def test_examples_from_pairs(pairs):
    try:
        examples = examples_from_pairs(pairs)
    except InputError:
        assert not any(a.strip() and b.strip() for a, b in pairs)
    else:
        for e in examples:
            assert e.sentence and e.lf
            assert all(name in e.sentence and name in e.lf for name in e.names)


@SETTINGS
@given(line=st.text(max_size=80))
@example(line="中國 中国 [Zhong1 guo2] /China/Middle Kingdom/")
def test_parse_cedict_line(line):
    entry = parse_cedict_line(line)
    if entry is not None:
        assert entry.simplified and entry.traditional
        assert all(g == g.strip() and g for g in entry.glosses)
