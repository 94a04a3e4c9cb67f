"""The issue-16 experiments end to end on a tiny random model whose tokenizer makes the concept
words single tokens: `patching concept`, `patching mean`, `latent-language` and `lens-quality`
give the same tables through the remote dry run as locally, write their declared CSV columns
from the CLI, and their checks hold (onward patching reads the source's own answer)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hubcore import tuned_lens
from hubcore.data.word_concepts import concept_table
from hubcore.experiments.latent_language import latent_language
from hubcore.experiments.lenses import lens_quality
from hubcore.experiments.patching import OUTCOMES, concept_patching, mean_patching
from hubcore.experiments.translation_prompts import outcome_ids, single_token
from hubcore.models import wrap_model
from tests.support.cli import assert_same_tables, run_command, written
from tests.support.tiny_models import build_tiny_model, build_tiny_tokenizer, perturb_norms

LANGS = ["en", "de", "fr", "es", "zh"]
CONCEPTS = 40


@pytest.fixture(scope="module")
def word_model():
    """A tiny gemma3_text model whose BPE learnt the first concepts' words (and the languages'
    names) as whole tokens, so word-translation prompts have single-token answers."""
    table = concept_table(LANGS).head(CONCEPTS)
    words = [str(w) for lang in LANGS for w in table[lang]]
    names = "English Español Français Deutsch 中文"
    corpus = tuple([" ".join(f'"{w}"' for w in words) + " " + names] * 30)
    tok = build_tiny_tokenizer(vocab_size=2048, extra_corpus=corpus)
    hf = perturb_norms(build_tiny_model("gemma3_text", len(tok)))
    return wrap_model(hf, tok, name="tiny-words")


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HUBCORE_CACHE_DIR", str(tmp_path / "cache"))
    tuned_lens._loaded.clear()
    yield tmp_path / "cache"
    tuned_lens._loaded.clear()


def test_the_concept_words_are_single_tokens(word_model):
    tok = word_model.tokenizer
    table = concept_table(["fr", "zh"]).head(CONCEPTS)
    assert sum(single_token(tok, str(w)) for w in table["zh"]) >= 20
    # a CJK word's leading-space form starts with a bare space token: not one of its outcome ids
    for w in table["zh"][:10]:
        assert all(tok.decode([i]).strip() for i in outcome_ids(tok, str(w)))


def test_concept_patching_remote_dry_run_equals_local(word_model):
    kwargs = dict(source_lang="fr", target_lang="zh", n=4, n_boot=20, seed=0)
    local = concept_patching(word_model, **kwargs)
    dry = concept_patching(word_model.variant("local"), **kwargs)
    assert_same_tables(local, dry, 1e-5)
    curves = local.curves
    assert set(curves["outcome"]) == set(OUTCOMES)
    assert sorted(curves["layer"].unique()) == list(range(word_model.num_layers + 1))
    assert (curves["n"] == local.n_items).all() and local.n_items >= 2
    assert ((curves["ci_low"] <= curves["prob"] + 1e-12) & (curves["prob"] <= curves["ci_high"] + 1e-12)).all()


def test_onward_concept_patching_reads_the_source_answer_at_every_layer(word_model):
    """Writing the source's last-token states at l..L makes the target's output the source's own:
    p(X in L_S) patched equals the source's unpatched p(X in L_S), at every layer."""
    res = concept_patching(word_model, source_lang="fr", target_lang="zh", n=4, n_boot=0, onward=True)
    src = res.curves[res.curves["outcome"] == OUTCOMES[2]]["prob"].to_numpy()
    assert np.allclose(src, res.baseline_source, atol=1e-5)


def test_mean_patching_remote_dry_run_equals_local(word_model):
    kwargs = dict(lang="zh", languages=("en", "fr", "de"), input_lang="es", n=4, n_boot=20, seed=0)
    local = mean_patching(word_model, **kwargs)
    dry = mean_patching(word_model.variant("local"), **kwargs)
    assert_same_tables(local, dry, 1e-5)
    table = local.accuracy
    assert table["condition"].nunique() == 3 and table["accuracy"].between(0, 1).all()
    unpatched = table[table["condition"].str.startswith("unpatched")]
    assert unpatched["accuracy"].nunique() == 1  # the model's own translation: one value at every layer


@pytest.mark.parametrize("task", ["translation", "repetition"])
def test_latent_language_remote_dry_run_equals_local(word_model, task):
    kwargs = dict(task=task, lang="zh", input_lang="fr", n=6, n_boot=20, seed=0)
    local = latent_language(word_model, **kwargs)
    dry = latent_language(word_model.variant("local"), **kwargs)
    assert_same_tables(local, dry, 1e-5)
    assert set(local.curves["language"]) == {"en", "zh"}


def test_latent_language_and_lens_quality_through_the_tuned_lens(word_model, cache_dir):
    """Zero translators: the tuned lens reads as the logit lens, locally and through the dry run."""
    L, d = word_model.num_layers, word_model.hidden_size
    tuned_lens.save_translators(word_model, tuned_lens.Translators(torch.zeros(L, d, d), torch.zeros(L, d)))
    kwargs = dict(task="translation", lang="zh", input_lang="fr", n=6, n_boot=0, seed=0)
    logit = latent_language(word_model, lens="logit", **kwargs)
    tuned = latent_language(word_model, lens="tuned", **kwargs)
    assert np.allclose(logit.curves["prob"], tuned.curves["prob"], atol=1e-6)
    texts = ["Le chat dort.", "猫在睡觉。", "The dog runs fast."]
    local = lens_quality(word_model, texts, n_boot=20)
    dry = lens_quality(word_model.variant("local"), texts, n_boot=20)
    assert_same_tables(local, dry, 1e-5)
    q = local.quality
    assert np.allclose(q[q["lens"] == "logit"]["kl"], q[q["lens"] == "tuned"]["kl"], atol=1e-5)
    assert np.allclose(q[q["layer"] == L]["kl"], 0, atol=1e-5)  # the last layer is the model's output


def test_cli_writes_the_declared_columns(word_model, monkeypatch, tmp_path):
    out = tmp_path / "c.csv"
    assert run_command(monkeypatch, word_model, ["patching", "concept", "--source-lang", "fr", "--target-lang",
                                                 "zh", "--n", "3", "--bootstrap", "10", "--out", str(out)]) == 0
    written(out, "patching concept", ["layer", "outcome", "prob", "ci_low", "ci_high", "n"])
    out = tmp_path / "m.csv"
    assert run_command(monkeypatch, word_model, ["patching", "mean", "--lang", "zh", "--languages", "en,fr,de",
                                                 "--input-lang", "es", "--n", "3", "--bootstrap", "10",
                                                 "--out", str(out)]) == 0
    written(out, "patching mean", ["layer", "condition", "accuracy", "ci_low", "ci_high", "prob", "prob_ci_low",
                                   "prob_ci_high", "n"])
    out = tmp_path / "w.csv"
    assert run_command(monkeypatch, word_model, ["latent-language", "--task", "repetition", "--lang", "zh",
                                                 "--n", "5", "--bootstrap", "10", "--out", str(out)]) == 0
    written(out, "latent-language", ["layer", "language", "prob", "ci_low", "ci_high", "n"])
