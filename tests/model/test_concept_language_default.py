"""Issue 16 on the embedded default model (Gemma-3-270M): the patching experiments' built-in
checks (patching the shared last-token embedding changes nothing; onward patching reads the
source's own answer), the concept-vs-language switch layers, mean-latent patching against the
model's own translation, latent language per layer, and a briefly trained tuned lens reading
closer to the final distribution than the logit lens on held-out text."""

from __future__ import annotations

import numpy as np
import pytest

from hubcore import tuned_lens
from hubcore.experiments.latent_language import latent_language
from hubcore.experiments.lenses import lens_quality, quality_texts
from hubcore.experiments.patching import OUTCOMES, concept_patching, mean_patching

pytestmark = pytest.mark.default_model


def test_concept_patching_checks_and_switch_layers(default_model):
    res = concept_patching(default_model, source_lang="fr", target_lang="zh", n=12, n_boot=200)
    curves = res.curves.set_index(["outcome", "layer"])["prob"]
    # both prompts end in the same token ('"'): its layer-0 state is the same, so patching it is a no-op
    assert abs(curves[(OUTCOMES[0], 0)] - res.baseline_own) < 1e-4
    assert res.baseline_own > 0.05 and res.baseline_source > 0.05  # the model does both translations
    lang, concept = res.values["switch"]["language"], res.values["switch"]["concept"]
    assert lang is not None and concept is not None, res.notes
    assert lang <= concept  # Dumas et al.: the language is in the latent no later than the concept
    top = default_model.num_layers
    assert curves[(OUTCOMES[2], top)] > curves[(OUTCOMES[0], top)]  # at the last layer: the source's answer
    onward = concept_patching(default_model, source_lang="fr", target_lang="zh", n=6, n_boot=0, onward=True)
    src = onward.curves[onward.curves["outcome"] == OUTCOMES[2]]["prob"].to_numpy()
    assert np.allclose(src, onward.baseline_source, atol=1e-4)


def test_mean_patching_against_the_unpatched_translation(default_model):
    res = mean_patching(default_model, lang="zh", languages=("en", "es", "fr", "de"), n=12, n_boot=100)
    table = res.accuracy
    assert table["condition"].nunique() == 3
    assert res.unpatched > 0  # the model translates some of these words itself
    early = table[(table["layer"] == 0) & table["condition"].str.startswith("mean")]
    assert float(early["accuracy"].iloc[0]) > 0  # writing X's latent from layer 0 on makes the answer X


def test_latent_language_translation_ends_in_the_target_language(default_model):
    res = latent_language(default_model, task="translation", lang="zh", input_lang="fr", n=20, n_boot=200)
    assert res.final["zh"] > res.final["en"]
    assert set(res.curves["language"]) == {"en", "zh"}
    phases = res.values["phases"]  # (phase, first, last) spans; `res.phases` is the table
    assert phases and phases[-1][0] == "target" and phases[-1][2] == default_model.num_layers


def test_a_briefly_trained_tuned_lens_beats_the_logit_lens(default_model, monkeypatch):
    """2,048 tokens and one epoch (the default trains on 8,192 for two): on held-out texts the tuned
    lens is closer to the final distribution than the logit lens at most layers below L."""
    tr, history = tuned_lens.train_translators(default_model, tokens=2048, epochs=1)
    assert sorted(history["epoch"].unique()) == [0, 1] and history["kl_estimate"].notna().all()
    # (the training-set estimates are in-sample, the least-squares start's most of all: the claim is
    # the held-out one below)
    # held in memory (read before the cache): the user's cached translators stay as they are
    monkeypatch.setitem(tuned_lens._loaded, tuned_lens.fingerprint(default_model), tr)
    texts, _ = quality_texts("held-out", 12)
    res = lens_quality(default_model, texts, n_boot=200)
    q = res.quality.pivot(index="layer", columns="lens", values="kl")
    top = default_model.num_layers
    assert abs(q.loc[top, "logit"]) < 1e-4 and abs(q.loc[top, "tuned"]) < 1e-4
    below = (q.loc[:top - 1, "tuned"] < q.loc[:top - 1, "logit"]).sum()
    assert below >= 0.75 * top, q
