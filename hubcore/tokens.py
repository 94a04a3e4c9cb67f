"""Tokenisation, token offsets and left-padded batches.

Offsets map every token position back to a character span of the text, so charts can label
positions and experiments can find "the token after this comma". Batches are cut from a token
budget (texts sorted by length, so padding stays small) and padded on the left with explicit
position ids: the last real token is then always at column -1, and models with absolute
positions (GPT-2) see the same positions as in an unpadded forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from .errors import InputError

MAX_TEXT_CHARS = 20_000


@dataclass
class Encoded:
    """One tokenised text."""

    ids: list[int]
    offsets: list[tuple[int, int]]  # character span of each token; (0, 0) for special tokens

    def __len__(self) -> int:
        return len(self.ids)


def check_text(text: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    """Reject empty or oversized text with a message instead of a hang or a crash."""
    if not isinstance(text, str):
        raise InputError("Text input must be a string.")
    cleaned = text.replace("\x00", "")
    try:
        cleaned.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates: undecodable bytes from a shell argument
        raise InputError(
            f"The text is not valid UTF-8 (character {exc.start + 1} is an undecodable byte): "
            "pass UTF-8 text."
        ) from None
    if not cleaned.strip():
        raise InputError("The text is empty: type or paste some text first.")
    if len(cleaned) > max_chars:
        raise InputError(
            f"The text has {len(cleaned):,} characters; this view takes at most {max_chars:,}. "
            "Shorten it or split it into several inputs."
        )
    return cleaned


def encode(tokenizer: Any, texts: Sequence[str], max_chars: int = MAX_TEXT_CHARS) -> list[Encoded]:
    """Tokenise with the tokenizer's own special tokens (BOS etc.), keeping character offsets."""
    texts = [check_text(t, max_chars) for t in texts]
    out: list[Encoded] = []
    for text in texts:
        try:
            enc = tokenizer(text, return_offsets_mapping=True)
            offsets = [tuple(o) for o in enc["offset_mapping"]]
        except (NotImplementedError, TypeError, ValueError):  # slow tokenizers have no offsets
            enc = tokenizer(text)
            offsets = [(0, 0)] * len(enc["input_ids"])
        out.append(Encoded(ids=list(enc["input_ids"]), offsets=offsets))  # type: ignore[arg-type]
    return out


def token_texts(tokenizer: Any, ids: Sequence[int]) -> list[str]:
    """Each token decoded on its own (leading spaces kept), for labels and CSVs."""
    return [tokenizer.decode([i], clean_up_tokenization_spaces=False) for i in ids]


def plan_batches(lengths: Sequence[int], token_budget: int) -> list[list[int]]:
    """Group text indices into batches of at most `token_budget` padded tokens, longest first."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = lengths[current[0]] if current else lengths[i]
        if current and width * (len(current) + 1) > token_budget:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def pad_left(id_lists: Sequence[Sequence[int]], pad_id: int, device: Any = "cpu") -> dict[str, Any]:
    """input_ids, attention_mask and position_ids for a left-padded batch."""
    import torch

    width = max(len(ids) for ids in id_lists)
    input_ids = torch.full((len(id_lists), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(id_lists), width), dtype=torch.long)
    for row, ids in enumerate(id_lists):
        if ids:
            input_ids[row, width - len(ids):] = torch.tensor(list(ids), dtype=torch.long)
            mask[row, width - len(ids):] = 1
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    return {
        "input_ids": input_ids.to(device),
        "attention_mask": mask.to(device),
        "position_ids": position_ids.to(device),
    }


def model_inputs(model: Any, id_lists: Sequence[Sequence[int]]) -> dict[str, Any]:
    """A left-padded batch for `model` as CPU tensors (nnsight moves them to the model's device,
    here or on a server); position ids only for models whose forward takes them."""
    inputs = pad_left(id_lists, model.tokenizer.pad_token_id)
    if not model.accepts_position_ids:
        inputs.pop("position_ids")
    return inputs
