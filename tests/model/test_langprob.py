"""p(language | token) tables and p(language | h) through the lens."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hubcore.errors import InputError
from hubcore.langprob import check_languages, language_mix, token_distribution


def test_check_languages_normalises_and_rejects():
    assert check_languages([" EN", "zh", "en"]) == ["en", "zh"]
    with pytest.raises(InputError, match="xx"):
        check_languages(["en", "xx"])
    with pytest.raises(InputError):
        check_languages([])
    with pytest.raises(InputError):
        check_languages(["other"])


def test_mix_rows_are_distributions_over_languages(tiny_tokenizer, tmp_path, monkeypatch):
    monkeypatch.setenv("HUBCORE_CACHE_DIR", str(tmp_path))
    mix = language_mix(tiny_tokenizer, len(tiny_tokenizer), ["en", "es"], n_words=500)
    sums = mix.sum(dim=1)
    assert mix.shape == (len(tiny_tokenizer), 2)
    assert torch.all((sums.abs() < 1e-6) | ((sums - 1).abs() < 1e-5))
    assert (sums > 0).sum() > 10
    assert list((tmp_path / "langprob").glob("*.npz"))  # cached on disk


@pytest.mark.default_model
def test_default_model_tokens_map_to_their_language(default_model):
    tok = default_model.tokenizer
    mix = language_mix(tok, default_model.card.vocab, ["en", "zh", "es"])
    def row(text):
        return mix[tok(text, add_special_tokens=False)["input_ids"][0]]
    assert row(" day").argmax() == 0
    assert row("天").argmax() == 1
    assert row(" día").argmax() == 2
    ids, probs = token_distribution(tok, "en")
    assert abs(probs.sum() - 1) < 1e-9 and len(ids) == len(set(ids.tolist()))


@pytest.mark.default_model
def test_language_probabilities_on_chinese_text(default_model):
    from hubcore.experiments.multilingual import language_probabilities
    from hubcore.lens import project
    from hubcore.trace import capture

    texts = ["今天的天气很好。", "我喜欢喝茶。", "他在学校学习中文。"]
    rep = language_probabilities(default_model, texts, ["en", "zh"], n_boot=100)
    piv = rep.curves.pivot(index="layer", columns="language", values="prob")
    assert np.allclose(piv.sum(axis=1), 1.0, atol=1e-4)
    assert ((piv >= 0) & (piv <= 1)).all().all()
    top = default_model.num_layers
    assert piv.loc[top, "zh"] > piv.loc[top, "en"]  # the output is in Chinese
    # one text's value equals a direct computation through the readout
    mix = language_mix(default_model.tokenizer, default_model.card.vocab, ["en", "zh"])
    cap = capture(default_model, texts[:1], positions="all")
    states = cap.states[0][1:]  # drop BOS, as the experiment does
    with torch.inference_mode():
        direct = default_model.readout.logprobs(states[:, 13]).exp() @ mix
    assert abs(direct.mean(0)[0].item() - rep.per_text[0, 13, 0]) < 1e-4
    assert project(default_model, states, top_k=1, mix=mix).mixed.shape == (top + 1, len(states), 2)
