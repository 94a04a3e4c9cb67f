"""Tiny, offline, deterministic tokenizer and causal LMs for tests.

Everything is built in-process (no hub access): a byte-level BPE tokenizer
trained on a small built-in corpus and randomly initialised models of several
transformers families, small enough to run on CPU in milliseconds.
"""

from __future__ import annotations

from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
PAD_ID, BOS_ID, EOS_ID = 0, 1, 2

FAMILIES: tuple[str, ...] = (
    "llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3_text",
    "gpt2", "gpt_neox", "phi3", "opt", "bloom", "olmo2", "granite",
)

# Small multilingual corpus: enough to give the BPE merges some real structure.
_CORPUS: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog.",
    "The capital of France is Paris. The capital of Spain is Madrid.",
    "Once upon a time, there was a little model that could predict the next token.",
    "Language models map tokens to hidden states and hidden states to logits.",
    "El rápido zorro marrón salta sobre el perro perezoso.",
    "La capital de Francia es París. La capital de España es Madrid.",
    "Había una vez un pequeño modelo que predecía la siguiente palabra.",
    "敏捷的棕色狐狸跳过了懒狗。",
    "法国的首都是巴黎。西班牙的首都是马德里。",
    "从前有一个小模型,它可以预测下一个词。",
    "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 42 100 256 1024 2025",
    "3.14159 2.71828 1 + 1 = 2, 2 * 3 = 6, 10 / 4 = 2.5",
    "def add(a: int, b: int) -> int:\n    return a + b\n",
    "for i in range(10):\n    print(i, i ** 2)\n",
    "class Model:\n    def __init__(self, name):\n        self.name = name\n",
    "import torch\nx = torch.zeros(3, 4)\nprint(x.shape)\n",
)


def build_tiny_tokenizer(vocab_size: int = 512, extra_corpus: tuple[str, ...] = ()) -> PreTrainedTokenizerFast:
    """Train a deterministic byte-level BPE (Llama/Gemma-style: <bos> prepended, left padding).

    `extra_corpus` adds training texts (the vision tests add colour words so each is one token).
    """
    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=[PAD, BOS, EOS, UNK],  # ids 0..3 in this order
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte encodable
        show_progress=False,
    )
    tok.train_from_iterator(list(_CORPUS + tuple(extra_corpus)) * 4, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A",
        pair=f"{BOS} $A {BOS} $B",
        special_tokens=[(BOS, BOS_ID)],
    )
    assert [tok.token_to_id(t) for t in (PAD, BOS, EOS)] == [PAD_ID, BOS_ID, EOS_ID]
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )


# Shared sizes; each family maps them onto its own config field names below.
_LAYERS, _HIDDEN, _HEADS, _KV_HEADS, _FFN, _POSITIONS = 3, 64, 4, 2, 128, 256
_HEAD_DIM = _HIDDEN // _HEADS
_IDS = dict(pad_token_id=PAD_ID, bos_token_id=BOS_ID, eos_token_id=EOS_ID)
_LLAMA_LIKE = dict(
    num_hidden_layers=_LAYERS, hidden_size=_HIDDEN, num_attention_heads=_HEADS,
    num_key_value_heads=_KV_HEADS, intermediate_size=_FFN, max_position_embeddings=_POSITIONS,
)
# Gemma defaults (head_dim=256, query_pre_attn_scalar=256) would not fit hidden=64.
# Random-init logits stay within about +-1, so a realistic cap of 30 would change log-probs by
# only ~1e-4; a cap of 1.0 changes them by ~0.1, so a lens that forgets the softcap fails tests.
_GEMMA = dict(_LLAMA_LIKE, head_dim=_HEAD_DIM, query_pre_attn_scalar=_HEAD_DIM, sliding_window=8,
              final_logit_softcapping=1.0, attn_logit_softcapping=50.0)

_FAMILY_KWARGS: dict[str, dict[str, Any]] = {
    "llama": dict(_LLAMA_LIKE, head_dim=_HEAD_DIM),
    "mistral": dict(_LLAMA_LIKE, head_dim=_HEAD_DIM, sliding_window=None),
    "qwen2": dict(_LLAMA_LIKE),
    "qwen3": dict(_LLAMA_LIKE, head_dim=_HEAD_DIM),  # default head_dim is 128
    # The sliding window (8) is shorter than test prompts, so both layer kinds are exercised.
    "gemma2": dict(_GEMMA, layer_types=["sliding_attention", "full_attention", "sliding_attention"]),
    "gemma3_text": dict(_GEMMA, layer_types=["sliding_attention", "sliding_attention", "full_attention"]),
    "gpt2": dict(n_layer=_LAYERS, n_embd=_HIDDEN, n_head=_HEADS, n_inner=_FFN, n_positions=_POSITIONS),
    "gpt_neox": dict(num_hidden_layers=_LAYERS, hidden_size=_HIDDEN, num_attention_heads=_HEADS,
                     intermediate_size=_FFN, max_position_embeddings=_POSITIONS),
    "phi3": dict(_LLAMA_LIKE, original_max_position_embeddings=_POSITIONS),
    "opt": dict(num_hidden_layers=_LAYERS, hidden_size=_HIDDEN, num_attention_heads=_HEADS, ffn_dim=_FFN,
                word_embed_proj_dim=_HIDDEN, max_position_embeddings=_POSITIONS),
    "bloom": dict(n_layer=_LAYERS, hidden_size=_HIDDEN, n_head=_HEADS),  # alibi: no position table
    "olmo2": dict(_LLAMA_LIKE),
    # Granite divides its logits by logits_scaling (and scales embeddings and residuals): 4.0
    # changes log-probs enough that a lens forgetting the division fails the lens tests.
    "granite": dict(_LLAMA_LIKE, logits_scaling=4.0, embedding_multiplier=2.0, residual_multiplier=0.5,
                    attention_multiplier=1.0 / _HEAD_DIM),
}


def build_tiny_config(family: str, vocab_size: int) -> PretrainedConfig:
    """Return the family's own config class filled with the tiny shared sizes."""
    if family not in _FAMILY_KWARGS:
        raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
    return AutoConfig.for_model(family, vocab_size=vocab_size, **_IDS, **_FAMILY_KWARGS[family])


def build_tiny_model(family: str, vocab_size: int, seed: int = 0) -> PreTrainedModel:
    """Randomly initialised (seeded) float32 causal LM of `family`, in eval mode."""
    config = build_tiny_config(family, vocab_size)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager", dtype=torch.float32)
    return model.eval()


def perturb_norms(model: torch.nn.Module, seed: int = 1, scale: float = 0.3) -> torch.nn.Module:
    """Give every normalisation layer non-trivial (seeded) gains and biases."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if "norm" not in type(module).__name__.lower():
                continue
            for param in module.parameters(recurse=False):
                param.add_(scale * torch.randn(param.shape, generator=gen, dtype=param.dtype))
    return model
