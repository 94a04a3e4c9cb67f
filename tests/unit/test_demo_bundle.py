"""The demo bundle (hubcore.demo_bundle): exact keys, a JSON codec that reads back identically
(no pickle), a build that replaces the old bundle only when it succeeds, and the CLI command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hubcore import demo_bundle as B
from hubcore.data.cogs import generate
from hubcore.experiments.logit_lens import logit_lens
from hubcore.experiments.page_defaults import page_run
from hubcore.experiments.result import result


def test_a_call_is_keyed_on_its_arguments_with_defaults_filled_in():
    base = B.canonical_call(logit_lens, {"text": "abc", "targets": ("day",)})
    assert base == B.canonical_call(logit_lens, {"text": "abc", "targets": ["day"], "top_k": 5, "raw": False})
    assert base != B.canonical_call(logit_lens, {"text": "abc", "targets": ("day",), "top_k": 6})
    assert B.bundle_key("lens", "spec", logit_lens, {"text": "abc"}) != B.bundle_key("lens", "other", logit_lens,
                                                                                        {"text": "abc"})
    assert "sha256:" in B.canonical_call(logit_lens, {"text": b"uploaded bytes"})  # uploads by their hash


def sample_result():
    frame = pd.DataFrame({"layer": [0, 1], "token": ["3", "\r"], "prob": [0.5, float("nan")],
                          "best": [True, False]})
    res = result("lens", {"topk": frame, "cells": frame.copy(), "targets": frame.iloc[:0]}, ["a note"],
                 input_tokens=["今天", " day"], pair=(1, "x"), arr=np.arange(6, dtype=np.float32).reshape(2, 3),
                 nan=float("nan"), by_int={3: "three"}, examples=generate(2, seed=0), table=frame, n=np.int64(4))
    res.meta = {"finished_at": "2026-01-01T00:00:00+00:00"}
    return res


def test_results_read_back_identically_through_json():
    res = sample_result()
    text = json.dumps(B.encode_result(res))
    back = B.decode_result(json.loads(text))
    assert B.same_result(res, back)
    assert back.topk["token"].tolist() == ["3", "\r"]  # a numeral token stays a string
    assert back.values["pair"] == (1, "x") and back.values["arr"].dtype == np.float32
    assert back.values["examples"] == res.values["examples"]  # hubcore dataclasses rebuilt
    assert back.schema and back.schema[0].name == "topk"  # the schema comes from the registry


def test_decoding_never_imports_outside_hubcore():
    for name in ("os:system", "subprocess:Popen", "builtins:eval"):
        with pytest.raises(ValueError):
            B.decode_value({"__dataclass__": name, "fields": {}})
    with pytest.raises(TypeError):
        B.encode_value(object())


def test_build_stores_page_runs_and_lookup_finds_exactly_that_call(tiny_model, tmp_path):
    model = tiny_model("llama")
    lines = B.build(root=tmp_path, only={"lens", "vision align"}, load=lambda kind: model)
    assert lines[0].startswith("bundled lens") and lines[1].startswith("skipped vision align")
    kwargs = page_run("lens").call(model)
    found = B.lookup("lens", model.spec, logit_lens, kwargs, root=tmp_path)
    assert found is not None and found.live_seconds > 0
    assert B.same_result(logit_lens(model, **kwargs), found.result)
    assert B.lookup("lens", model.spec, logit_lens, {**kwargs, "top_k": 3}, root=tmp_path) is None
    facts = B.model_facts(model.spec, root=tmp_path)
    assert facts["num_layers"] == model.num_layers and facts["card"].layers == model.card.layers
    files = list((tmp_path / B.NAME).iterdir())
    assert all(json.loads(f.read_text()) is not None for f in files if f.suffix == ".json")


def test_only_recomputes_some_and_keeps_the_rest(tiny_model, tmp_path):
    model = tiny_model("llama")
    B.build(root=tmp_path, only={"lens"}, load=lambda kind: model)
    B.build(root=tmp_path, only={"code strip"}, load=lambda kind: model)
    assert [e["experiment"] for e in B.describe(tmp_path)] == ["code strip", "lens"]


def test_a_failed_build_leaves_the_previous_bundle(tiny_model, tmp_path):
    model = tiny_model("llama")
    B.build(root=tmp_path, only={"lens"}, load=lambda kind: model)
    before = sorted(p.name for p in (tmp_path / B.NAME).iterdir())

    def broken(kind):
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        B.build(root=tmp_path, only={"lens"}, load=broken)
    assert sorted(p.name for p in (tmp_path / B.NAME).iterdir()) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(f".{B.NAME}.")]  # no leftovers


def test_the_cli_lists_what_the_bundle_holds(tiny_model, tmp_path, monkeypatch, capsys):
    from hubcore.cli import main

    monkeypatch.setenv("HUBCORE_CACHE_DIR", str(tmp_path))
    assert main(["demo-bundle", "--list"]) == 1
    B.build(root=tmp_path, only={"lens"}, load=lambda kind: tiny_model("llama"))
    assert main(["demo-bundle", "--list"]) == 0
    assert "lens  [page: /logit_lens]  computed" in capsys.readouterr().out
