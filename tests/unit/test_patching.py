"""Activation patching between prompts on tiny random models: unpatched rows are the model's own
distribution, writing a prompt's own states changes nothing, writing another prompt's states at
every layer from l on at the last token reproduces that prompt's output, the shared-prefix path
equals full prompts and the remote dry run, and bad patches are one sentence."""

from __future__ import annotations

import pytest
import torch

from hubcore.errors import InputError
from hubcore.patching import Patch, patched_reads, replace_edits
from hubcore.tokens import encode, pad_left
from hubcore.trace import capture_encoded

PROMPTS = ["The capital of France is Paris. The capital of Spain is",
           "El perro de mi vecino es muy grande y",
           "法国的首都是巴黎。西班牙的首都是"]
IDS = torch.tensor([[5, 17, 42, 99]] * 64)


def own_logprobs(model, text: str) -> torch.Tensor:
    ids = model.tokenizer(text)["input_ids"]
    inputs = {k: v for k, v in pad_left([ids], model.tokenizer.pad_token_id).items() if k != "position_ids"}
    with torch.no_grad():
        return model.hf(**inputs).logits[0, -1].float().log_softmax(-1)


@pytest.mark.parametrize("family", ["llama", "gemma3_text", "gpt2"])
def test_unpatched_rows_read_the_models_own_distribution(tiny_model, family):
    model = tiny_model(family)
    enc = encode(model.tokenizer, PROMPTS)
    ids, lp = patched_reads(model, enc, [Patch(prompt=i) for i in range(3)], IDS[:3], top_k=2)
    for i, text in enumerate(PROMPTS):
        own = own_logprobs(model, text)
        assert torch.allclose(lp[i], own[IDS[i]], atol=1e-4)
        assert int(ids[i, 0]) == int(own.argmax())


def test_writing_a_prompts_own_states_changes_nothing(tiny_model):
    model = tiny_model("llama")
    enc = encode(model.tokenizer, PROMPTS)
    states = capture_encoded(model, enc, positions="last").stacked()  # [3, L + 1, d]
    L = model.num_layers
    rows = [Patch(prompt=i, position=-1, layers=[layer], states=states[i, [layer]])
            for i in range(3) for layer in range(L + 1)]
    _, lp = patched_reads(model, enc, rows, IDS[:len(rows)])
    for r, row in enumerate(rows):
        assert torch.allclose(lp[r], own_logprobs(model, PROMPTS[row.prompt])[IDS[r]], atol=1e-4)


@pytest.mark.parametrize("family", ["llama", "qwen2"])
def test_onward_patching_at_the_last_token_copies_the_source_output(tiny_model, family):
    model = tiny_model(family)
    enc = encode(model.tokenizer, PROMPTS)
    states = capture_encoded(model, enc, positions="last").stacked()
    L = model.num_layers
    # write prompt 0's states into prompt 1, from layer l to L
    rows = [Patch(prompt=1, position=-1, layers=list(range(layer, L + 1)), states=states[0, layer:])
            for layer in range(L + 1)]
    _, lp = patched_reads(model, enc, rows, IDS[:len(rows)])
    source = own_logprobs(model, PROMPTS[0])[IDS[0]]
    target = own_logprobs(model, PROMPTS[1])[IDS[0]]
    assert not torch.allclose(source, target, atol=1e-3)
    assert torch.allclose(lp, source.expand_as(lp), atol=1e-4)
    # a single-layer patch below L lets the target's context back in: it differs from the source
    single = [Patch(prompt=1, position=-1, layers=[0], states=states[0, [0]])]
    _, one = patched_reads(model, enc, single, IDS[:1])
    assert not torch.allclose(one[0], source, atol=1e-3)


def test_shared_prefix_equals_full_prompts_and_the_remote_dry_run(tiny_model):
    model = tiny_model("gemma3_text")
    enc = encode(model.tokenizer, PROMPTS)
    states = capture_encoded(model, enc, positions=[[-4], [-4], [-4]]).stacked()
    L = model.num_layers
    # write 4 tokens before the end, layers l..L (the mean-latent experiment's patch)
    rows = [Patch(prompt=i, position=-4, layers=list(range(layer, L + 1)), states=states[(i + 1) % 3, layer:])
            for i in range(3) for layer in range(L + 1)] + [Patch(prompt=2)]
    ids_local, local = patched_reads(model, enc, rows, IDS[:len(rows)], top_k=3)
    ids_dry, dry = patched_reads(model.variant("local"), enc, rows, IDS[:len(rows)], top_k=3)
    assert torch.allclose(local, dry, atol=1e-4)
    assert torch.equal(ids_local[:, 0], ids_dry[:, 0])
    # and the batch does not matter: one row at a time reads the same
    alone = torch.cat([patched_reads(model, enc, [r], IDS[:1])[1] for r in rows[:4]])
    assert torch.allclose(alone, local[:4], atol=1e-4)


def test_bad_patches_are_one_sentence(tiny_model):
    model = tiny_model("llama")
    enc = encode(model.tokenizer, PROMPTS[:1])
    d = model.hidden_size
    with pytest.raises(InputError, match="Nothing to patch"):
        patched_reads(model, enc, [], IDS[:0])
    with pytest.raises(InputError, match="out of range"):
        patched_reads(model, enc, [Patch(prompt=0, position=500, layers=[1], states=torch.zeros(1, d))], IDS[:1])
    with pytest.raises(InputError, match="layers must lie"):
        patched_reads(model, enc, [Patch(prompt=0, layers=[99], states=torch.zeros(1, d))], IDS[:1])


def test_replace_edits_group_rows_by_layer():
    s = [torch.ones(2, 3), torch.full((1, 3), 2.0)]
    edits = replace_edits([[0, 2], [2]], [5, 6], s)
    assert [e[0] for e in edits] == [0, 2]
    assert edits[1][1].tolist() == [0, 1] and edits[1][2].tolist() == [5, 6]
    assert edits[1][3][1].tolist() == [2.0, 2.0, 2.0] and edits[0][6] == "replace"
