"""Random-weight models for the checkup's tests: the shared tiny Llama config with more blocks, so
an effect could run over two consecutive judged layers (the honest-null tests need that room),
in-process or saved to a folder that a model spec can name (the Compare page's tests)."""

from __future__ import annotations

from pathlib import Path

import torch

from tests.support.tiny_models import perturb_norms
from tests.support.tiny_models import build_tiny_config


def random_llama(tokenizer, layers: int = 8, seed: int = 3) -> torch.nn.Module:
    """A seeded random-weight Llama with `layers` blocks and perturbed norms, in eval mode."""
    from transformers import AutoModelForCausalLM

    config = build_tiny_config("llama", len(tokenizer))
    config.num_hidden_layers = layers
    torch.manual_seed(seed)
    hf = AutoModelForCausalLM.from_config(config, attn_implementation="eager", dtype=torch.float32).eval()
    return perturb_norms(hf, seed=seed)


def save_random_llama(folder: Path, tokenizer, layers: int = 8, seed: int = 3) -> Path:
    """`random_llama` written with save_pretrained (and its tokenizer) to `folder`."""
    random_llama(tokenizer, layers, seed).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
