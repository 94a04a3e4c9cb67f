"""Prompts, batched inputs, capture and edited generation for vision-language models.

- `build_prompt`: the model's chat template with one image when it has one, else the family's
  image placeholder and the question.
- `encode` / `encode_texts`: left-padded batches (images + prompts, or text only) on the device.
- `capture_states`: ONE nnsight trace per batch saving the chosen layers at the chosen columns,
  stopped after the last block needed (the LM head never runs).
- `generate_with_edits`: greedy generation traced with nnsight; top-level edits apply to the
  prompt pass only (the generic `NNsight` wrapper's first iteration), so the edited image-token
  states reach the answer through the KV cache, as in the paper's intervention.
- `QwenVLProcessor`: Qwen2-VL's processor needs torchvision for its video half; without it this
  stand-in expands `<|image_pad|>` from the image processor's grid exactly as the real one does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence

from ..errors import InputError

if TYPE_CHECKING:
    from .models import VisionModel


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


def _to_device(model: "VisionModel", batch: Any) -> dict[str, Any]:
    import torch

    dtype = next(model.hf.parameters()).dtype
    out = {}
    for k, v in dict(batch).items():
        if isinstance(v, torch.Tensor):
            v = v.to(model.device)
            if v.is_floating_point():
                v = v.to(dtype)
        out[k] = v
    return out


def encode(model: "VisionModel", images: Sequence[Any], prompts: Sequence[str]) -> dict[str, Any]:
    """Processor outputs for one image per prompt, left-padded, on the model's device."""
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
    return _to_device(model, batch)


def encode_texts(model: "VisionModel", texts: Sequence[str]) -> dict[str, Any]:
    """Text-only batch (captions), left-padded, on the device."""
    if not texts or any(not t.strip() for t in texts):
        raise InputError("Captions must be non-empty.")
    batch = model.tokenizer(list(texts), return_tensors="pt", padding=True)
    return _to_device(model, {k: batch[k] for k in ("input_ids", "attention_mask")})


def capture_states(model: "VisionModel", inputs: dict[str, Any], columns: Sequence[Sequence[int]],
                   layers: Sequence[int]) -> list[Any]:
    """Per row: float32 CPU `[P_i, n_layers, d]` at padded-batch `columns[i]`, for `layers`.

    Layer 0 is the input of the first decoder block (token embeddings with image features merged
    in), layer i the output of block i. The trace stops after the last block needed.
    """
    import torch

    saved: list[Any] = []
    blocks = model.layers()
    with model.lock, torch.inference_mode():
        with model.wrapped.trace(**inputs) as tracer:
            for layer in layers:  # module access must follow execution order
                h = blocks[0].input if layer == 0 else blocks[layer - 1].output
                saved.append(h.save())
            tracer.stop()
        stacked = torch.stack([s.to(torch.float32) for s in saved], dim=2)  # [B, T, n, d]
        out = [stacked[row, list(cols)].cpu().clone() for row, cols in enumerate(columns)]
    return [o.clone() for o in out]


def generate_with_edits(model: "VisionModel", inputs: dict[str, Any], edits: dict[int, tuple[Any, Any]],
                        max_new_tokens: int = 8) -> list[str]:
    """Greedy answers with `edits` = {layer: (mask [B, T, 1] bool, vector [B, 1, d])} added to the
    prompt pass: h <- h + vector where mask. Returns the decoded new text per row."""
    import torch

    blocks = model.layers()
    tok = model.tokenizer
    out: list[Any] = []
    dtype = next(model.hf.parameters()).dtype
    with model.lock, torch.inference_mode():
        ready = {l: (m.to(model.device), v.to(model.device, dtype)) for l, (m, v) in edits.items()}
        with model.wrapped.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                    pad_token_id=tok.pad_token_id) as tracer:
            for layer in sorted(ready):
                mask, vec = ready[layer]
                if layer == 0:
                    h = blocks[0].input
                    blocks[0].input = torch.where(mask, h + vec, h)
                else:
                    h = blocks[layer - 1].output
                    blocks[layer - 1].output = torch.where(mask, h + vec, h)
            out.append(tracer.result.save())
        ids = out[0]
        width = inputs["input_ids"].shape[1]
        return [tok.decode(row[width:], skip_special_tokens=True) for row in ids.cpu()]


def batches(n: int, size: int) -> list[range]:
    """Consecutive index ranges of at most `size` items."""
    size = max(1, int(size))
    return [range(i, min(n, i + size)) for i in range(0, n, size)]


def image_states(model: "VisionModel", images: Sequence[Any], prompt: str, layers: Sequence[int],
                 batch_size: int = 8, progress: Optional[Any] = None) -> tuple[list[Any], list[dict[str, Any]]]:
    """Image-token states per image: float32 `[n_image_tokens, n_layers, d]`, and per image the
    grid facts {"rows", "cols"} (row-major token order) for drawing and halves."""
    from ..progress import report
    from .models import image_token_positions, patch_grid

    states: list[Any] = []
    grids: list[dict[str, Any]] = []
    for rng in batches(len(images), batch_size):
        inputs = encode(model, [images[i] for i in rng], [prompt] * len(rng))
        cols = image_token_positions(model, inputs["input_ids"])
        if any(not c for c in cols):
            raise InputError("The processed prompt holds no image tokens: check the model's processor.")
        states += capture_states(model, inputs, cols, layers)
        for j, c in enumerate(cols):
            rows_, cols_ = patch_grid(model, len(c), inputs, j)
            grids.append({"rows": rows_, "cols": cols_, "n": len(c)})
        report(progress, len(states) / len(images), f"Captured {len(states)}/{len(images)} images")
    return states, grids
