"""CUDA checks: run where a GPU is present, skipped on CPU machines (marked `gpu`).

Device "auto" picks CUDA, `device_map="auto"` spreads the default model over the visible GPUs,
the lens still equals the model's own distribution in bf16, batched == unbatched on the GPU, and
the remote dry run equals a local run there too.
"""

from __future__ import annotations

import pytest
import torch

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@pytest.fixture(scope="module")
def gpu_model():
    from hubcore.models import ModelSpec, get_model

    return get_model(ModelSpec(device="auto"))


def test_auto_device_is_cuda_in_bf16(gpu_model):
    assert gpu_model.card.device.startswith("cuda")
    assert gpu_model.card.dtype in ("bfloat16", "float16")
    assert getattr(gpu_model.hf, "hf_device_map", None) is not None  # device_map="auto"
    assert gpu_model.card.lens_check < 0.1  # bf16 logits vs the lens's bf16 path


def test_gpu_batched_equals_unbatched_and_dry_run(gpu_model):
    from hubcore.trace import capture

    texts = ["今天是开心的一", "Hoy es un buen día para", "The capital of France is"]
    batched = capture(gpu_model, texts, positions="last").stacked()
    alone = torch.cat([capture(gpu_model, [t], positions="last").stacked() for t in texts])
    scale = alone.abs().amax(dim=-1, keepdim=True).clamp_min(1.0)
    assert ((batched - alone).abs() / scale).max() < 2e-2  # bf16 kernels differ by batch shape
    remote = capture(gpu_model.variant("local"), texts, positions="last").stacked()
    assert torch.equal(remote, batched)


def test_gpu_greedy_generation_matches_transformers(gpu_model):
    from hubcore.steering import eos_ids, generate_ids

    prompt = "La comida del restaurante"
    ours = generate_ids(gpu_model, [prompt], max_new_tokens=8)[0]
    enc = gpu_model.tokenizer([prompt], return_tensors="pt").to(gpu_model.device)
    with torch.inference_mode():
        ids = gpu_model.hf.generate(**enc, do_sample=False, max_new_tokens=8, top_k=None, top_p=None)
    ref = ids[0, enc["input_ids"].shape[1]:].tolist()
    eos = eos_ids(gpu_model)
    ref = ref[: next((i for i, t in enumerate(ref) if t in eos), len(ref))]
    assert ours == ref
