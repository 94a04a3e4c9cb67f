"""Tiny, offline, random-weight vision-language models for tests (LLaVA, Gemma 3, Qwen2-VL).

Each is built in-process from its config (seeded), with a processor assembled locally from the
family's PIL image-processor class and the tiny BPE tokenizer of tests/support/tiny_models.py (trained
with the colour words so each is one token, plus the family's image special tokens). Nothing is
downloaded. `save_tiny_vlm` writes model + processor to a folder, which then loads like a
user's model through `hubcore.models.vision.load_vision_model`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForImageTextToText, PreTrainedTokenizerFast

from tests.support.tiny_models import BOS, EOS, PAD, UNK, build_tiny_tokenizer

VLM_FAMILIES: tuple[str, ...] = ("llava", "gemma3", "qwen2_vl")

_COLOUR_CORPUS = tuple(
    f"The image is {c}. A {c} square. {c.capitalize()} and {c}, the colour {c}."
    for c in ("red", "green", "blue", "black", "white", "yellow", "orange", "purple", "pink",
              "brown", "gray")
) + ("What colour is this image? What colours are in this image? Answer:",)

# family -> (special tokens by role); the roles become tokenizer attributes (image_token, ...)
_SPECIAL: dict[str, dict[str, str]] = {
    "llava": {"image_token": "<image>"},
    "gemma3": {"image_token": "<image_soft_token>", "boi_token": "<start_of_image>",
               "eoi_token": "<end_of_image>"},
    "qwen2_vl": {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
                 "vision_start_token": "<|vision_start|>", "vision_end_token": "<|vision_end|>"},
}

_TEXT = dict(num_hidden_layers=3, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
             intermediate_size=128, max_position_embeddings=512)


def build_vlm_tokenizer(family: str) -> PreTrainedTokenizerFast:
    """The tiny BPE with colour words and the family's image tokens as special tokens."""
    base = build_tiny_tokenizer(extra_corpus=_COLOUR_CORPUS)
    backend = base.backend_tokenizer
    specials = _SPECIAL[family]
    backend.add_special_tokens(list(specials.values()))
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK,
        padding_side="left", clean_up_tokenization_spaces=False, extra_special_tokens=specials,
    )


def _ids(tok: Any, family: str) -> dict[str, int]:
    return {role: tok.convert_tokens_to_ids(t) for role, t in _SPECIAL[family].items()}


def build_tiny_vlm(family: str, seed: int = 0) -> tuple[Any, Any]:
    """(model, processor): a seeded random-weight float32 VLM of `family` and its processor."""
    tok = build_vlm_tokenizer(family)
    ids = _ids(tok, family)
    vocab = len(tok)
    common = dict(pad_token_id=0, bos_token_id=1, eos_token_id=2, vocab_size=vocab)
    if family == "llava":
        from transformers import CLIPImageProcessorPil, LlavaProcessor

        config = AutoConfig.for_model(
            "llava",
            text_config=dict(model_type="llama", head_dim=16, **_TEXT, **common),
            vision_config=dict(model_type="clip_vision_model", hidden_size=32, intermediate_size=64,
                               num_hidden_layers=2, num_attention_heads=2, image_size=28, patch_size=7),
            image_token_index=ids["image_token"], vision_feature_select_strategy="default",
            vision_feature_layer=-1,
        )
        image_processor = CLIPImageProcessorPil(size={"shortest_edge": 28},
                                                crop_size={"height": 28, "width": 28})
        processor = LlavaProcessor(image_processor=image_processor, tokenizer=tok, patch_size=7,
                                   vision_feature_select_strategy="default",
                                   num_additional_image_tokens=1)
    elif family == "gemma3":
        from transformers import Gemma3ImageProcessorPil, Gemma3Processor

        config = AutoConfig.for_model(
            "gemma3",
            text_config=dict(model_type="gemma3_text", head_dim=16, query_pre_attn_scalar=16,
                             sliding_window=8, final_logit_softcapping=1.0,
                             layer_types=["sliding_attention", "sliding_attention", "full_attention"],
                             **_TEXT, **common),
            vision_config=dict(model_type="siglip_vision_model", hidden_size=32, intermediate_size=64,
                               num_hidden_layers=2, num_attention_heads=2, image_size=56, patch_size=7),
            mm_tokens_per_image=16, image_token_index=ids["image_token"],
            boi_token_index=ids["boi_token"], eoi_token_index=ids["eoi_token"],
        )
        image_processor = Gemma3ImageProcessorPil(size={"height": 56, "width": 56})
        processor = Gemma3Processor(image_processor=image_processor, tokenizer=tok, image_seq_length=16)
    elif family == "qwen2_vl":
        from transformers import Qwen2VLImageProcessorPil

        from hubcore.vision.processing import QwenVLProcessor

        config = AutoConfig.for_model(
            "qwen2_vl",
            text_config=dict(rope_scaling=dict(type="mrope", mrope_section=[2, 3, 3]), **_TEXT, **common),
            vision_config=dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, patch_size=14,
                               spatial_merge_size=2, temporal_patch_size=2),
            image_token_id=ids["image_token"], video_token_id=ids["video_token"],
            vision_start_token_id=ids["vision_start_token"],
            vision_end_token_id=ids["vision_end_token"], **common,
        )
        image_processor = Qwen2VLImageProcessorPil(min_pixels=112 * 112, max_pixels=112 * 112,
                                                   patch_size=14, merge_size=2, temporal_patch_size=2)
        # the real Qwen2VLProcessor needs torchvision (for videos): the app's stand-in, as at load
        processor = QwenVLProcessor(image_processor, tok)
    else:
        raise ValueError(f"unknown VLM family {family!r}; expected one of {VLM_FAMILIES}")
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config, attn_implementation="eager",
                                                    dtype=torch.float32)
    _perturb_norms(model, seed + 1)
    with torch.no_grad():  # Gemma 3 zero-initialises its image projection: make images visible
        for name, param in model.named_parameters():
            if param.dim() >= 2 and not param.any():
                param.normal_(0.0, 0.2, generator=torch.Generator().manual_seed(seed + 2))
    return model.eval(), processor


def _perturb_norms(model: torch.nn.Module, seed: int, scale: float = 0.3) -> None:
    """Random norm gains, so a lens that norms twice (or never) differs from the model."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if "norm" in type(module).__name__.lower():
                for p in module.parameters(recurse=False):
                    p.add_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))


def save_tiny_vlm(family: str, folder: Path, seed: int = 0) -> Path:
    """Write a tiny VLM and its processor to `folder` (loads like a user's local model)."""
    model, processor = build_tiny_vlm(family, seed)
    folder = Path(folder)
    model.save_pretrained(folder)
    if hasattr(processor, "save_pretrained"):
        processor.save_pretrained(folder)
    else:  # QwenVLProcessor: its parts, as a Qwen2-VL checkpoint holds them
        processor.image_processor.save_pretrained(folder)
        processor.tokenizer.save_pretrained(folder)
    return folder


_handles: dict = {}


def tiny(family: str):
    """A wrapped tiny random VLM of `family`, built once per process."""
    from hubcore.models.vision import wrap_vision_model

    if family not in _handles:
        model, processor = build_tiny_vlm(family)
        _handles[family] = wrap_vision_model(model, processor, name=f"tiny-{family}")
    return _handles[family]
