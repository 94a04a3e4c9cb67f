"""Anchoring experiment: word/token alignment, CC-CEDICT, bootstrap, and the real model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hubcore.stats import bootstrap_ci
from hubcore.data.cedict import cedict_glosses, clean_gloss, load_cedict, parse_cedict, parse_cedict_line
from hubcore.experiments.word_alignment import SKIP_REASONS, find_items, token_span
from hubcore.text.segment import segment
from hubcore.errors import InputError
from hubcore.experiments.anchoring import CURVE_COLUMNS, anchoring
from hubcore.tokens import Encoded, encode, pad_left
from hubcore.trace import capture

ES_TEXT = "La capital de Francia es París."
# tiny tokenizer: <bos> La| capital| de| Fran|ci|a| es| Par|í|s|.
ES_LEXICON = {"la": "the", "capital": "capital", "de": "of", "Francia": "France", "es": "is",
              "París": "Paris"}


# ----------------------------------------------------------------------------- alignment


def test_token_span_rules():
    text = "ab cd"
    enc = Encoded(ids=[1, 10, 11], offsets=[(0, 0), (0, 2), (2, 5)])  # <bos> "ab" " cd"
    assert token_span(enc, text, 3, 5) == ("aligned", 2, 1)  # leading space is not the word
    assert token_span(enc, text, 0, 2) == ("aligned", 1, 1)
    assert token_span(enc, text, 1, 2)[0] == "unaligned"  # cuts through "ab"
    assert token_span(enc, text, 0, 5)[0:3:2] == ("aligned", 2)  # two whole tokens
    # byte-level pieces of one character share its span: aligned, but two tokens
    enc2 = Encoded(ids=[1, 20, 21, 22], offsets=[(0, 0), (0, 1), (0, 1), (1, 2)])
    assert token_span(enc2, "天气", 0, 1) == ("aligned", 1, 2)
    assert token_span(enc2, "天气", 1, 2) == ("aligned", 3, 1)
    # a token crossing the word's end
    enc3 = Encoded(ids=[1, 30], offsets=[(0, 0), (0, 3)])
    assert token_span(enc3, "今天是", 0, 2)[0] == "unaligned"


def test_find_items_spanish_tiny_tokenizer(tiny_tokenizer):
    tok = tiny_tokenizer
    enc = encode(tok, [ES_TEXT])[0]
    pieces = tok.convert_ids_to_tokens(enc.ids)
    assert pieces[:4] == ["<bos>", "La", "Ġcapital", "Ġde"]  # the layout this test relies on
    items, skipped = find_items(tok, [ES_TEXT], "es", ES_LEXICON)
    got = {it.source_word: it for it in items}
    # "de" -> " of": read at " capital" (position 2), the next token is " de" (index 3)
    assert set(got) == {"de", "es"}
    assert got["de"].position == 2 and got["de"].next_id == enc.ids[3]
    assert got["de"].english_token == " of" and got["de"].english_id == tok(" of", add_special_tokens=False)["input_ids"][0]
    es_index = pieces.index("Ġes")
    assert got["es"].position == es_index - 1 and got["es"].next_token == " es"
    assert got["es"].english_word == "is" and (got["es"].char_start, got["es"].char_end) == (22, 24)
    # La: opens the text (read at <bos>); capital -> " capital" is the next token itself;
    # " France" and " Paris" are two tokens each (dictionary checks come before alignment)
    assert skipped["no_context"] == 1
    assert skipped["same_token"] == 1
    assert skipped["english_multi_token"] == 2
    assert sum(skipped.values()) + len(items) == 6
    assert set(skipped) == set(SKIP_REASONS)


def test_find_items_english_must_be_one_token(tiny_tokenizer):
    # " France" is two tokens of the tiny tokenizer; "de" has no English word at all
    items, skipped = find_items(tiny_tokenizer, [ES_TEXT], "es",
                                {"es": "France", "de": "(particle)", "capital": "to be / of"})
    assert skipped["english_multi_token"] == 1
    assert skipped["no_single_word_gloss"] == 1
    # "to be" -> "be", but " be" is two tiny tokens: the next gloss, " of", is used
    assert len(tiny_tokenizer(" be", add_special_tokens=False)["input_ids"]) > 1
    assert [(i.source_word, i.english_word) for i in items] == [("capital", "of")]
    assert skipped["not_in_dictionary"] == 3  # La, Francia, París


def test_find_items_chinese_jieba_alignment(tiny_tokenizer):
    text = "巴黎。首都。法"
    enc = encode(tiny_tokenizer, [text])[0]
    assert [s.word for s in segment(text, "zh")] == ["巴黎", "首都", "法"]
    items, skipped = find_items(tiny_tokenizer, [text], "zh",
                                {"巴黎": "Paris", "首都": "capital", "法": "the"})
    # 首都 is split into byte pieces by the tiny tokenizer; " Paris" is two tokens; 法 is one
    assert skipped["multi_token"] == 1 and skipped["english_multi_token"] == 1
    assert len(items) == 1
    it = items[0]
    assert it.source_word == "法" and it.next_token == "法"
    assert enc.ids[it.position + 1] == it.next_id and it.position == len(enc) - 2
    # one segment cutting through a token: 的 / 首都 / 是 lie inside the token "的首都是"
    text2 = "西班牙的首都是马德里。"
    _, sk2 = find_items(tiny_tokenizer, [text2], "zh", {"的": "of", "首都": "capital", "是": "is"})
    assert sk2["unaligned"] == 3


def test_find_items_rejects_english_and_needs_lexicon(tiny_tokenizer):
    with pytest.raises(InputError):
        find_items(tiny_tokenizer, ["The cat"], "en", {})
    with pytest.raises(InputError):
        find_items(tiny_tokenizer, ["Hola"], "es", None)


def test_longest_match_for_japanese(tiny_tokenizer):
    segs = segment("私は学生です", "ja", {"私": "I", "学生": "student", "学": "study"})
    assert [(s.word, s.start, s.end) for s in segs] == [("私", 0, 1), ("学生", 2, 4)]


# ----------------------------------------------------------------------------- CC-CEDICT


def test_parse_cedict_lines():
    line = "天 天 [tian1] /day/sky/heaven/"
    e = parse_cedict_line(line)
    assert (e.traditional, e.simplified, e.pinyin, e.glosses) == ("天", "天", "tian1", ("day", "sky", "heaven"))
    assert parse_cedict_line("# CC-CEDICT header") is None
    index = parse_cedict([
        "水 水 [Shui3] /surname Shui/",
        "水 水 [shui3] /water/river/",
        "個 个 [ge4] /individual/this/that/size/classifier for people or objects in general/",
    ])
    assert [x.pinyin for x in index["水"]] == ["shui3", "Shui3"]  # proper-noun reading last
    assert "個" in index and "个" in index  # traditional and simplified keys


def test_clean_gloss():
    assert clean_gloss("day") == "day"
    assert clean_gloss("to eat") == "eat"
    assert clean_gloss("(located) at") == "at"
    assert clean_gloss("he or him") == "he"
    assert clean_gloss("old (of people)") == "old" and clean_gloss("radical") == "radical"
    for bad in ("surname Shui", "variant of 瞭|了[liao3]", "CL:個|个[ge4]", "(classifier for pens)",
                "classifier for people or objects in general", "see 的士[di1 shi4]", "the sky",
                "abbr. for Japan", "(completed action marker)", "COVID-19",
                '"one" radical in Chinese characters (Kangxi radical 1)'):
        assert clean_gloss(bad) is None, bad


def test_real_cedict_entries():
    cedict = load_cedict()
    assert len(cedict) > 100_000
    words = [w for w in (clean_gloss(g) for g in cedict_glosses(cedict["天"])) if w]
    assert words[:2] == ["day", "sky"]
    water = [w for w in (clean_gloss(g) for g in cedict_glosses(cedict["水"])) if w]
    assert water[0] == "water" and "Shui" not in water
    assert [w for w in (clean_gloss(g) for g in cedict_glosses(cedict["吃"])) if w][0] == "eat"
    assert cedict_glosses(cedict["了"]) is None  # grammatical particle first: not a word
    assert cedict_glosses(cedict.get("不存在的词语", ())) == []


# ----------------------------------------------------------------------------- bootstrap


def test_bootstrap_ci_groups_and_seed():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(60, 3))
    groups = np.repeat(np.arange(12), 5)
    mean, lo, hi = bootstrap_ci(values, groups, n_boot=500, seed=3)
    assert np.allclose(mean, values.mean(0))
    assert np.all(lo <= mean) and np.all(mean <= hi)
    again = bootstrap_ci(values, groups, n_boot=500, seed=3)
    assert np.array_equal(again[1], lo) and np.array_equal(again[2], hi)
    # unequal group sizes: the mean is over positions, not over group means
    v = np.array([1.0, 1.0, 1.0, 4.0])
    m, _, _ = bootstrap_ci(v, [0, 0, 0, 1], n_boot=50)
    assert m[0] == pytest.approx(1.75)
    one = bootstrap_ci(v, [0, 0, 0, 0], n_boot=50)
    assert one[1][0] == one[2][0] == pytest.approx(1.75)
    # clustered data: resampling whole groups gives a wider CI than resampling positions
    clustered = np.repeat(rng.normal(size=12), 5)[:, None] + 0.01 * rng.normal(size=(60, 1))
    _, lo_g, hi_g = bootstrap_ci(clustered, groups, n_boot=500)
    _, lo_p, hi_p = bootstrap_ci(clustered, np.arange(60), n_boot=500)
    assert (hi_g - lo_g)[0] > 1.5 * (hi_p - lo_p)[0]


# ----------------------------------------------------------------------------- experiment (tiny)


def test_anchoring_tiny_model_matches_direct_lens(tiny_model, tiny_tokenizer):
    model = tiny_model("llama")
    texts = [ES_TEXT, "", "El perro de la casa es muy grande.", "La capital es Madrid."]
    rep = anchoring(model, texts, "es", ES_LEXICON, n_boot=100)
    L = model.num_layers
    assert list(rep.curves.columns) == CURVE_COLUMNS
    assert len(rep.curves) == 2 * (L + 1)
    assert set(rep.curves["target"]) == {"english", "next"}
    assert (rep.curves["n"] == len(rep.items)).all() and len(rep.items) >= 3
    assert set(rep.items["text_index"]) == {0, 2, 3}  # indices into the given list (blank left out)
    assert rep.bootstrap == "texts"
    # every logged value equals readout(captured state) at that position and layer
    for k, it in rep.items.iterrows():
        states = capture(model, [texts[it.text_index]], positions=[[it.position]]).states[0][0]
        with torch.inference_mode():
            lp = model.readout.logprobs(states)  # [L+1, V]
        got = rep.item_logprobs[rep.item_logprobs["item"] == k].sort_values("layer")
        assert np.allclose(got["english_logprob"], lp[:, it.english_id].numpy(), atol=1e-5)
        assert np.allclose(got["next_logprob"], lp[:, it.next_id].numpy(), atol=1e-5)
    # the curves are the means of those values; the difference frame is consistent
    il = rep.item_logprobs
    eng = rep.curves[rep.curves.target == "english"].set_index("layer")["mean_logprob"]
    assert np.allclose(eng.values, il.groupby("layer")["english_logprob"].mean().values, atol=1e-5)
    nxt = rep.curves[rep.curves.target == "next"].set_index("layer")["mean_logprob"]
    assert np.allclose(rep.difference["mean_diff"].values, (eng - nxt).values, atol=1e-4)
    # english_wins: the layers whose whole difference CI lies above zero
    d = rep.difference
    assert rep.english_wins == [int(layer) for layer in d.loc[d["ci_low"] > 0, "layer"]]
    assert list(rep.csv_frame().columns) == CURVE_COLUMNS and rep.n_texts == 3 and rep.lang == "es"
    # raw mode (no final norm) reads different numbers
    raw = anchoring(model, texts, "es", ES_LEXICON, raw=True, n_boot=0)
    assert raw.raw and not np.allclose(raw.curves["mean_logprob"], rep.curves["mean_logprob"])


def test_anchoring_tiny_model_errors(tiny_model):
    model = tiny_model("llama")
    with pytest.raises(InputError, match="No position"):
        anchoring(model, ["Francia París"], "es", ES_LEXICON)
    with pytest.raises(InputError):
        anchoring(model, ["  "], "es", ES_LEXICON)
    with pytest.raises(InputError):
        anchoring(model, [ES_TEXT], "es", ES_LEXICON, bootstrap="words")


# ----------------------------------------------------------------------------- default model

HSK_LIKE = [
    "今天是开心的一天。",
    "我每天早上喝一杯水。",
    "我的朋友是老师。",
    "他在商店买了一本书。",
    "我们明天去北京。",
    "妈妈在厨房做饭。",
    "这个苹果很好吃。",
    "我喜欢看电影。",
    "学生们在学校学习中文。",
    "昨天的天气很冷。",
    "我想喝咖啡。",
    "她的猫很小。",
]


@pytest.mark.default_model
def test_default_model_anchoring_chinese(default_model):
    model = default_model
    L = model.num_layers
    rep = anchoring(model, HSK_LIKE, "zh", n_boot=300, seed=1)
    curves = rep.curves
    assert list(curves.columns) == CURVE_COLUMNS
    assert len(curves) == 2 * (L + 1)
    assert sorted(curves["layer"].unique()) == list(range(L + 1))
    n = len(rep.items)
    assert n >= 10 and (curves["n"] == n).all()
    assert ((curves["ci_low"] <= curves["mean_logprob"] + 1e-9)
            & (curves["mean_logprob"] <= curves["ci_high"] + 1e-9)).all()
    # Gemma tokens that pass the alignment ARE the segment: the next token is the word itself
    assert (rep.items["next_token"] == rep.items["source_word"]).all()
    assert rep.items["english_token"].str.startswith(" ").all()
    assert set(rep.skipped) == set(SKIP_REASONS)
    # at the output the model predicts the actual Chinese token, not its English translation
    last = curves[curves.layer == L].set_index("target")["mean_logprob"]
    assert last["next"] > last["english"]
    assert rep.difference.set_index("layer").loc[L, "ci_high"] < 0

    # independent check of one item: a plain transformers forward (no nnsight, no capture)
    k = len(rep.items) // 2
    it = rep.items.iloc[k]
    ids = model.tokenizer(HSK_LIKE[it.text_index])["input_ids"]
    assert ids[it.position + 1] == it.next_id
    inputs = {kk: v for kk, v in pad_left([ids], model.tokenizer.pad_token_id, model.device).items()
              if kk != "position_ids"}
    with torch.inference_mode():
        out = model.hf(**inputs, output_hidden_states=True)
        own = out.logits[0, it.position].float().log_softmax(-1).cpu()
        mid = L // 2 + 3
        lens_mid = model.readout.logprobs(out.hidden_states[mid][0, it.position]).cpu()
    logged = rep.item_logprobs[rep.item_logprobs["item"] == k].set_index("layer")
    assert logged.loc[L, "next_logprob"] == pytest.approx(float(own[it.next_id]), abs=1e-3)
    assert logged.loc[L, "english_logprob"] == pytest.approx(float(own[it.english_id]), abs=1e-3)
    assert logged.loc[mid, "english_logprob"] == pytest.approx(float(lens_mid[it.english_id]), abs=1e-3)
    assert logged.loc[mid, "next_logprob"] == pytest.approx(float(lens_mid[it.next_id]), abs=1e-3)
