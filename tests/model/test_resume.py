"""Resume from layer: a layer x coefficient grid equals full `forward_with` runs, cell by cell.

Tiny random models of several families (rotary and learned absolute positions, ALiBi, sliding
windows, Gemma's soft-capping) with prompts of different lengths (left padding), for the
last-token fast path and for edits at other positions; then the real default model, whose
residual norms reach thousands, with a tolerance relative to the logits' magnitude.
"""

from __future__ import annotations

import pytest
import torch

from hubcore.errors import InputError
from hubcore.steering.resume import (full_forward_grid, grid_logits, grid_target_logprobs, resume_grid,
                            target_logprobs)

PROMPTS = ["The capital of France is", "Hola", "def add(a, b):\n    return a +"]
FAMILIES = ["llama", "gpt2", "gemma3_text", "gemma2", "bloom", "opt", "mistral"]


def _vec(model, seed: int = 0) -> torch.Tensor:
    return torch.randn(model.hidden_size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("positions", ["last", None, [[1], [0], [2, -1]]])
def test_grid_equals_full_forwards_tiny(tiny_model, family, positions):
    model = tiny_model(family)
    top = model.num_layers
    layers, coefs = [0, 1, top], [0.0, 1.5, -3.0]
    vec = _vec(model)
    got = resume_grid(model, PROMPTS, vec, layers, coefs, positions=positions)
    want = full_forward_grid(model, PROMPTS, vec, layers, coefs, positions=positions, per_cell=True)
    assert got.shape == (3, 3, len(PROMPTS), model.card.vocab)
    assert torch.allclose(got, want, atol=2e-5, rtol=1e-5), (got - want).abs().max()
    # the grid is not trivially constant: the coefficient changes the logits at every layer
    assert ((got[:, 2] - got[:, 0]).abs().amax(dim=(1, 2)) > 1e-3).all()


def test_per_row_vectors_replace_and_norm_preserving(tiny_model):
    model = tiny_model("qwen2")
    vec = torch.stack([_vec(model, s) for s in range(len(PROMPTS))])
    for kwargs in ({"kind": "replace"}, {"norm_preserving": True}):
        got = resume_grid(model, PROMPTS, vec, [1, 2], [0.5, 2.0], **kwargs)
        want = full_forward_grid(model, PROMPTS, vec, [1, 2], [0.5, 2.0], **kwargs)
        assert torch.allclose(got, want, atol=2e-5, rtol=1e-5)


def test_target_logprobs_chunks_and_order(tiny_model):
    """Small token budgets split the coefficients into several batches: same numbers."""
    model = tiny_model("llama")
    vec, coefs = _vec(model), [0.0, 1.0, 2.0, 3.0, 4.0]
    ids = [5, 17, 42]
    big = grid_target_logprobs(model, PROMPTS, vec, [2, 1], coefs, ids)
    small = grid_target_logprobs(model, PROMPTS, vec, [2, 1], coefs, ids, token_budget=1)
    full = grid_logits(model, PROMPTS, vec, [2, 1], coefs)
    assert big.shape == (2, 5, len(PROMPTS), 3)
    assert torch.allclose(big, small, atol=1e-5)
    assert torch.allclose(big, torch.log_softmax(full, -1)[..., ids], atol=1e-5)


def test_grid_survives_a_fake_out_of_memory(tiny_model, monkeypatch):
    """A batch that does not fit is halved and retried; the grid is unchanged."""
    import hubcore.steering.resume as R

    model = tiny_model("llama")
    vec, coefs = _vec(model), [0.0, 1.0, 2.0, 3.0]
    want = resume_grid(model, PROMPTS, vec, [1], coefs)
    real = R._resumed_logits
    sizes: list[int] = []

    def flaky(model_, inputs, layer, edited, extra):
        rows = inputs["input_ids"].shape[0]
        sizes.append(rows)
        if rows > len(PROMPTS):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
        return real(model_, inputs, layer, edited, extra)

    monkeypatch.setattr(R, "_resumed_logits", flaky)
    got = resume_grid(model, PROMPTS, vec, [1], coefs)
    assert torch.allclose(got, want, atol=1e-6)
    assert sizes[0] == 4 * len(PROMPTS) and min(sizes) == len(PROMPTS)


def test_bad_grids_are_user_errors(tiny_model):
    model = tiny_model("llama")
    vec = _vec(model)
    with pytest.raises(InputError, match="Layers must lie"):
        resume_grid(model, PROMPTS, vec, [model.num_layers + 1], [1.0])
    with pytest.raises(InputError, match="at least one layer"):
        resume_grid(model, PROMPTS, vec, [], [1.0])
    with pytest.raises(InputError, match="steering vector"):
        resume_grid(model, PROMPTS, torch.zeros(3), [1], [1.0])
    with pytest.raises(InputError, match="No prompts"):
        resume_grid(model, [], vec, [1], [1.0])
    with pytest.raises(InputError, match="target"):
        target_logprobs([])


@pytest.mark.default_model
def test_default_model_grid_equals_full_forwards(default_model):
    """Gemma-3-270M: residual norms in the thousands, sliding-window layers, left padding."""
    from hubcore.steering import hidden_difference

    prompts = ["The weather today is", "这家餐厅的菜", "Mi opinión sobre el libro es que es"]
    vec = hidden_difference(default_model, ["Good"], ["Bad"], layer=6)[0]
    layers, coefs = [0, 9, default_model.num_layers], [0.0, 8.0]
    ids = list(range(0, 262_144, 997))
    got = grid_target_logprobs(default_model, prompts, vec, layers, coefs, ids)
    want = full_forward_grid(default_model, prompts, vec, layers, coefs, reduce=target_logprobs(ids))
    scale = want.abs().max()
    assert (got - want).abs().max() <= 1e-4 * scale, (got - want).abs().max()
    assert (got[:, 1] - got[:, 0]).abs().max() > 0.1  # the edit matters
