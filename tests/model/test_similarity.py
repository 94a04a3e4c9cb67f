"""Similarity engine: exact against direct computations, bootstrap algebra, centring, and the
real cross-lingual effect on the default model."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hubcore.errors import InputError
from hubcore.similarity import (bootstrap_counts, cosine_matrix, matched_minus_baseline,
                                pair_similarity, retrieval_at_1)


def _direct(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """Matched and baseline, one pair at a time (the slow obvious way)."""
    n = a.shape[0]
    matched = sum(F.cosine_similarity(a[i].double(), b[i].double(), dim=0).item() for i in range(n)) / n
    off = [F.cosine_similarity(a[i].double(), b[j].double(), dim=0).item()
           for i in range(n) for j in range(n) if i != j]
    return matched, sum(off) / len(off)


def test_raw_metric_equals_direct_computation_on_synthetic():
    torch.manual_seed(0)
    a = torch.randn(25, 3, 16)
    b = a + torch.randn(25, 3, 16) + 2.0
    df = pair_similarity(a, b, metrics=("raw",), n_boot=0)
    for layer in range(3):
        m, base = _direct(a[:, layer], b[:, layer])
        row = df[df.layer == layer].iloc[0]
        assert abs(row.matched - m) < 1e-9 and abs(row.baseline - base) < 1e-9
        assert abs(row.adjusted - (m - base)) < 1e-9


def test_weighted_bootstrap_equals_explicit_resamples():
    torch.manual_seed(1)
    sim = cosine_matrix(torch.randn(12, 8), torch.randn(12, 8))
    gen = torch.Generator().manual_seed(3)
    for _ in range(5):
        idx = torch.randint(0, 12, (12,), generator=gen)
        counts = torch.bincount(idx, minlength=12).double()[None]
        bm, bb = matched_minus_baseline(sim, counts)
        # explicit: the resampled pairs, baseline over pairs with different original items
        matched = sim[idx, idx].mean()
        sub = sim[idx][:, idx]
        differ = idx[:, None] != idx[None, :]
        assert torch.allclose(bm[0], matched)
        assert torch.allclose(bb[0], sub[differ].mean())


def test_bootstrap_counts_are_multinomial():
    w = bootstrap_counts(7, 50, seed=2)
    assert w.shape == (50, 7)
    assert torch.all(w.sum(dim=1) == 7)
    assert torch.equal(w, bootstrap_counts(7, 50, seed=2))  # seeded
    assert not torch.equal(w, bootstrap_counts(7, 50, seed=3))


def test_retrieval_at_1():
    sim = torch.eye(4)
    assert retrieval_at_1(sim) == 1.0
    sim[0, 1] = 2.0  # row 0 now prefers item 1
    assert retrieval_at_1(sim) == 0.75


def test_centered_metric_ignores_a_constant_offset_of_one_side():
    torch.manual_seed(4)
    a = torch.randn(30, 2, 12)
    b = a + 0.5 * torch.randn(30, 2, 12)
    base = pair_similarity(a, b, metrics=("centered",), n_boot=0)
    shifted = pair_similarity(a, b + 100.0, metrics=("centered",), n_boot=0)
    assert np.allclose(base.adjusted, shifted.adjusted, atol=1e-9)
    raw_shifted = pair_similarity(a, b + 100.0, metrics=("raw",), n_boot=0)
    assert raw_shifted.adjusted.abs().max() < 0.1 < base.adjusted.min()  # raw drowns in the offset


def test_ci_brackets_the_estimate_and_narrows_with_more_pairs():
    torch.manual_seed(5)
    small = torch.randn(20, 1, 8)
    big = torch.randn(400, 1, 8)
    s = pair_similarity(small, small + torch.randn_like(small), metrics=("raw",), n_boot=500)
    b = pair_similarity(big, big + torch.randn_like(big), metrics=("raw",), n_boot=500)
    for df in (s, b):
        assert (df.ci_low <= df.adjusted).all() and (df.adjusted <= df.ci_high).all()
    assert (b.ci_high - b.ci_low).item() < (s.ci_high - s.ci_low).item()


def test_bad_shapes_and_too_few_pairs_raise_input_error():
    with pytest.raises(InputError):
        pair_similarity(torch.randn(1, 2, 3), torch.randn(1, 2, 3))
    with pytest.raises(InputError):
        pair_similarity(torch.randn(4, 2, 3), torch.randn(5, 2, 3))
    with pytest.raises(InputError):
        pair_similarity(torch.randn(4, 2, 3), torch.randn(4, 2, 3), metrics=("bogus",))


def _hsk_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    from hsk_sentences_audio import load_sentences

    sents = load_sentences()
    random.Random(seed).shuffle(sents)
    return [(s["chinese"], s["translation"]["en"]) for s in sents[:n]]


@pytest.mark.default_model
def test_default_model_raw_similarity_equals_direct_pairwise(default_model):
    from hubcore.experiments.multilingual import apply_template, translation_similarity
    from hubcore.trace import capture_last

    pairs = _hsk_pairs(12, seed=7)
    rep = translation_similarity(default_model, pairs, "{} 这代表", "{} This represents",
                                 n_boot=0, metrics=("raw",))
    a = capture_last(default_model, [apply_template("{} 这代表", x) for x, _ in pairs])
    b = capture_last(default_model, [apply_template("{} This represents", y) for _, y in pairs])
    for layer in (1, 9, 13, 18):
        m, base = _direct(a[:, layer], b[:, layer])
        row = rep.curves[rep.curves.layer == layer].iloc[0]
        assert abs(row.matched - m) < 1e-4 and abs(row.baseline - base) < 1e-4


@pytest.mark.default_model
def test_default_model_centered_retrieval_peaks_mid_to_late(default_model):
    from hubcore.experiments.multilingual import translation_similarity

    rep = translation_similarity(default_model, _hsk_pairs(80, seed=11), "{} 这代表",
                                 "{} This represents", n_boot=100)
    c = rep.curves[rep.curves.metric == "centered"].set_index("layer")
    early = c.loc[1:4, "retrieval_at_1"].max()
    late = c.loc[10:18, "retrieval_at_1"].max()
    assert late > 0.5 and late > 3 * early  # measured: ~0.8 at layer 13 vs <= 0.06 early
    raw = rep.curves[rep.curves.metric == "raw"].set_index("layer")
    assert raw.loc[1:18, "adjusted"].abs().max() < 0.1  # raw differences are tiny (FINDINGS)


def test_bucket_similarity_matches_direct_means_and_contrast():
    from hubcore.similarity import bucket_similarity

    torch.manual_seed(8)
    n = 10
    a = torch.randn(n, 2, 6)
    b = a + torch.randn(n, 2, 6)
    values = torch.tensor([1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
    eye = torch.eye(n, dtype=torch.bool)
    same = (values[:, None] == values[None, :]) & ~eye
    diff = values[:, None] != values[None, :]
    df = bucket_similarity(a, b, {"exact": eye, "same_value": same, "different_value": diff},
                           contrasts={"exact_minus_rest": ("exact", ["same_value", "different_value"])},
                           metrics=("raw",), n_boot=200)
    for layer in range(2):
        sim = torch.stack([torch.stack([F.cosine_similarity(a[i, layer], b[j, layer], dim=0)
                                        for j in range(n)]) for i in range(n)]).double()
        got = df[df.layer == layer].set_index("bucket")["mean"]
        assert abs(got["exact"] - sim[eye].mean().item()) < 1e-6
        assert abs(got["same_value"] - sim[same].mean().item()) < 1e-6
        assert abs(got["different_value"] - sim[diff].mean().item()) < 1e-6
        rest = sim[same | diff].mean().item()
        assert abs(got["exact_minus_rest"] - (sim[eye].mean().item() - rest)) < 1e-6
    assert (df.ci_low <= df["mean"] + 1e-9).all() and (df["mean"] <= df.ci_high + 1e-9).all()
    with pytest.raises(InputError, match="empty"):
        bucket_similarity(a, b, {"none": torch.zeros(n, n, dtype=torch.bool)})
