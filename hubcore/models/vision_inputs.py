"""Inputs for vision-language models: prompts, batches, and where the image tokens sit.

Pure input building (no model forward), so the loader's load-time lens check can use it:
`hubcore.models.vision` imports this module, and this module imports nothing of the models
package (a vision handle is described by the `VisionModel` protocol below instead).

- `build_prompt`: the model's chat template with one image when it has one, else the family's
  image placeholder and the question.
- `encode` / `encode_texts`: left-padded batches (images + prompts, or text only), CPU tensors
  (nnsight moves trace inputs to the model's device, here or on a server).
- `image_token_positions` / `patch_grid`: where an image's tokens sit and how they tile it.
- `QwenVLProcessor`: Qwen2-VL's processor needs torchvision for its video half; without it this
  stand-in expands `<|image_pad|>` from the image processor's grid exactly as the real one does.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Protocol, Sequence

from ..errors import InputError


class VisionModel(Protocol):
    """What input building reads from a vision handle (`hubcore.models.vision.VisionHandle`)."""

    processor: Any
    tokenizer: Any
    family: str
    family_info: Any  # hubcore.models.vision.Family: nested_images, images_kwargs, mrope
    image_token_id: int
    config: Any
    hf: Any


class QwenVLProcessor:
    """Image processor + tokenizer for Qwen2-VL / Qwen2.5-VL (image inputs only)."""

    def __init__(self, image_processor: Any, tokenizer: Any) -> None:
        self.image_processor = image_processor
        self.tokenizer = tokenizer
        self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
        self.chat_template = getattr(tokenizer, "chat_template", None)

    def apply_chat_template(self, messages: Any, **kwargs: Any) -> str:
        return self.tokenizer.apply_chat_template(messages, **kwargs)

    def __call__(self, images: Any = None, text: Any = None, return_tensors: str = "pt",
                 padding: bool = True, **kwargs: Any) -> Any:
        from transformers import BatchFeature

        texts = [text] if isinstance(text, str) else list(text)
        feats: dict[str, Any] = {}
        if images is not None:
            flat = [im for group in images for im in (group if isinstance(group, (list, tuple)) else [group])]
            feats = dict(self.image_processor(images=flat, return_tensors=return_tensors))
            merge = int(getattr(self.image_processor, "merge_size", 2)) ** 2
            counts = [int(g.prod()) // merge for g in feats["image_grid_thw"]]
            k = 0
            expanded = []
            for t in texts:
                parts = t.split(self.image_token)
                out = parts[0]
                for part in parts[1:]:
                    if k >= len(counts):
                        raise InputError("More image placeholders than images.")
                    out += "<|placeholder|>" * counts[k] + part
                    k += 1
                expanded.append(out.replace("<|placeholder|>", self.image_token))
            texts = expanded
        enc = dict(self.tokenizer(texts, return_tensors=return_tensors, padding=padding))
        image_id = self.tokenizer.convert_tokens_to_ids(self.image_token)
        enc["mm_token_type_ids"] = (enc["input_ids"] == image_id).long()  # 1 = image (M-RoPE)
        return BatchFeature(data={**enc, **feats})


def _placeholder(model: "VisionModel") -> str:
    proc, tok = model.processor, model.tokenizer
    if model.family in ("qwen2_vl", "qwen2_5_vl"):
        start = getattr(tok, "vision_start_token", None) or "<|vision_start|>"
        end = getattr(tok, "vision_end_token", None) or "<|vision_end|>"
        return f"{start}{getattr(proc, 'image_token', '<|image_pad|>')}{end}"
    if model.family == "gemma3":
        return getattr(proc, "boi_token", None) or tok.boi_token
    token = getattr(proc, "image_token", None) or getattr(tok, "image_token", None)
    if not token:
        raise InputError(f"The processor of this {model.family} model names no image token.")
    return str(token)


def build_prompt(model: "VisionModel", question: str = "", chat: bool = True) -> str:
    """One image then `question`, in the model's chat format when it has one."""
    proc = model.processor
    if chat and getattr(proc, "chat_template", None):
        content: list[dict[str, str]] = [{"type": "image"}]
        if question:
            content.append({"type": "text", "text": question})
        try:
            return proc.apply_chat_template([{"role": "user", "content": content}],
                                            add_generation_prompt=True, tokenize=False)
        except Exception:  # templates that reject this message shape fall back to plain text
            pass
    ph = _placeholder(model)
    return f"{ph}\n{question}" if question else ph


def _as_inputs(model: "VisionModel", batch: Any) -> dict[str, Any]:
    """Processor output as CPU tensors, floating ones in the model's dtype."""
    import torch

    dtype = next(model.hf.parameters()).dtype
    out = {}
    for k, v in dict(batch).items():
        if isinstance(v, torch.Tensor) and v.is_floating_point():
            v = v.to(dtype)
        out[k] = v
    return out


def encode(model: "VisionModel", images: Sequence[Any], prompts: Sequence[str]) -> dict[str, Any]:
    """Processor outputs for one image per prompt, left-padded (CPU tensors)."""
    if len(images) != len(prompts) or not prompts:
        raise InputError("Give one image per prompt.")
    info = model.family_info
    imgs: Any = [[im] for im in images] if info.nested_images else list(images)
    kwargs = dict(info.images_kwargs)
    try:
        batch = model.processor(images=imgs, text=list(prompts), return_tensors="pt", padding=True,
                                **kwargs)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"The model's processor rejected the image prompt: {exc}") from exc
    return _as_inputs(model, batch)


def encode_texts(model: "VisionModel", texts: Sequence[str]) -> dict[str, Any]:
    """Text-only batch (captions), left-padded (CPU tensors)."""
    if not texts or any(not t.strip() for t in texts):
        raise InputError("Captions must be non-empty.")
    batch = model.tokenizer(list(texts), return_tensors="pt", padding=True)
    return _as_inputs(model, {k: batch[k] for k in ("input_ids", "attention_mask")})


def image_token_positions(model: "VisionModel", input_ids: Any) -> list[list[int]]:
    """Per row of `input_ids` `[B, T]`: the column indices holding image features, in order."""
    import torch

    ids = torch.as_tensor(input_ids)
    if ids.dim() == 1:
        ids = ids[None]
    tok = model.image_token_id
    return [torch.nonzero(row == tok).flatten().tolist() for row in ids.cpu()]


def patch_grid(model: "VisionModel", n_tokens: int, inputs: Optional[dict[str, Any]] = None,
               image_index: int = 0) -> tuple[int, int]:
    """(rows, cols) of an image's tokens in row-major order, for drawing and left/right halves.

    Qwen2-VL/2.5-VL: the processor's `image_grid_thw` divided by the merge size; square grids
    for LLaVA, Gemma 3, Idefics3/SmolVLM without splitting and Chameleon; else one row.
    """
    if inputs is not None and "image_grid_thw" in inputs:
        t, h, w = (int(x) for x in inputs["image_grid_thw"][image_index])
        merge = int(getattr(getattr(model.config, "vision_config", None), "spatial_merge_size", 2) or 2)
        rows, cols = h // merge, (t * w) // merge
        if rows * cols == n_tokens:
            return rows, cols
    side = math.isqrt(n_tokens)
    if side * side == n_tokens:
        return side, side
    return 1, n_tokens
