"""Steering vectors: hidden-state differences (ActAdd) and unembedding differences (W_U rows).

The paper's steering experiments (§4) add a vector built from hidden-state differences
(ActAdd: h("Good") - h("Bad")) or from unembedding differences (W_U["sí"] - W_U["no"]). Both
are computed through the handle's traces, so they work when the model runs on NDIF too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence, Union

from ..errors import InputError
from ..models.memo import ModelMemo
from ..tokens import Encoded, encode, model_inputs

if TYPE_CHECKING:
    import torch

    from ..models.handle import Handle

# a slider move re-runs the side by side with the same steering pairs: their vectors are kept
_actadd = ModelMemo(256)


def hidden_difference(
    model: "Handle",
    positive: Sequence[str],
    negative: Sequence[str],
    layer: int,
    position: Union[str, int] = "last",
) -> "torch.Tensor":
    """`h_layer(positive_i) - h_layer(negative_i)` at `position`: float32 CPU `[N, d]`.

    The ActAdd recipe (e.g. "Good" - "Bad"). `negative` may hold one text used for every
    positive. `position` is "last" or one token index (negative from the end) for every text.
    """
    from ..trace import capture

    positive, negative = list(positive), list(negative)
    if not positive or not negative:
        raise InputError("Give at least one positive and one negative text.")
    if len(negative) == 1 and len(positive) > 1:
        negative = negative * len(positive)
    if len(negative) != len(positive):
        raise InputError("Give as many negative texts as positive ones (or a single one).")
    if isinstance(position, str):
        if position != "last":
            raise InputError("position must be 'last' or a token index.")
        spec_pos: Any = "last"
        spec_neg: Any = "last"
    else:
        spec_pos = [[int(position)]] * len(positive)
        spec_neg = [[int(position)]] * len(negative)
    pos = capture(model, positive, positions=spec_pos, layers=[layer]).stacked()[:, 0]
    neg = capture(model, negative, positions=spec_neg, layers=[layer]).stacked()[:, 0]
    return pos - neg


def actadd_vectors(model: "Handle", positive: str, negative: str, layer: int) -> "torch.Tensor":
    """ActAdd's steering vectors: `h_layer(positive) - h_layer(negative)` at EVERY token, `[k, d]`.

    As in Turner et al. (and the paper's §4): both steering prompts are tokenised with the
    model's BOS, the shorter is right-padded with the token of a single space so both have k
    tokens, and the per-token differences are meant for the first k positions of the steered
    prompt (`Intervention(per_position=True, positions=range(k))`). The BOS row is exactly 0.
    Computed once per loaded model and (positive, negative, layer) for local runs; callers get a
    copy.
    """
    from ..trace import capture_encoded

    key = (str(positive), str(negative), int(layer))
    known = _actadd.recall(model, key)
    if known is not None:
        return known.clone()
    pos_enc, neg_enc = encode(model.tokenizer, [positive, negative])
    if len(pos_enc) == 0 or len(neg_enc) == 0:
        raise InputError("Both steering texts must be non-empty.")
    space = model.tokenizer(" ", add_special_tokens=False)["input_ids"]
    filler = int(space[0]) if space else int(model.tokenizer.pad_token_id)
    k = max(len(pos_enc), len(neg_enc))
    padded = [
        Encoded(ids=list(e.ids) + [filler] * (k - len(e)), offsets=list(e.offsets) + [(0, 0)] * (k - len(e)))
        for e in (pos_enc, neg_enc)
    ]
    cap = capture_encoded(model, padded, positions="all", layers=[int(layer)])
    vectors = cap.states[0][:, 0] - cap.states[1][:, 0]  # a new tensor: the memo's own
    _actadd.remember(model, key, vectors)
    return vectors.clone()


def first_token_id(model: "Handle", text: str) -> int:
    """Id of the first token of `text` encoded without special tokens (" Paris" keeps its space)."""
    if not isinstance(text, str) or not text:
        raise InputError("Give a non-empty token string.")
    ids = model.tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise InputError(f"'{text}' encodes to no token.")
    return int(ids[0])


def unembedding_rows(model: "Handle", ids: Sequence[int]) -> "torch.Tensor":
    """Rows `ids` of the output head's weight, float32 CPU `[n, d]`.

    Read directly when the model runs here; otherwise inside a one-token trace that stops at once
    (the rows travel back, the 262k-row matrix does not).
    """
    import nnsight
    import torch

    idx = torch.tensor([int(i) for i in ids], dtype=torch.long)
    if model.remote == "off":
        head = model.readout.head
        if getattr(head, "weight", None) is None:
            raise InputError("This model has no LM head weight to take unembedding rows from.")
        with torch.inference_mode():
            return head.weight[idx.to(head.weight.device)].to(torch.float32).cpu().clone()
    nn = model.nn
    bos = model.tokenizer.bos_token_id
    first = [int(bos if bos is not None else model.tokenizer.pad_token_id)]
    with model.lock, torch.inference_mode():
        with model.trace(**model_inputs(model, [first])) as tracer:
            weight = nn.lm_head.weight
            rows = nnsight.save(weight[idx.to(weight.device)].to(torch.float32).cpu())
            tracer.stop()
    return rows.clone()


def unembedding_difference(model: "Handle", token_a: str, token_b: str) -> "torch.Tensor":
    """`W_U[a] - W_U[b]`: rows of the LM head weight for the first token of each string.

    Float32 CPU `[d]`. Adding it pushes the residual stream towards reading `a` rather than `b`
    (the paper's output-space steering). With tied embeddings (Gemma, GPT-2) the LM head weight
    IS the input embedding matrix, so this equals the embedding rows' difference (before any
    embedding scaling the model applies at the input, e.g. Gemma's sqrt(d)).
    """
    rows = unembedding_rows(model, [first_token_id(model, token_a), first_token_id(model, token_b)])
    return (rows[0] - rows[1]).clone()
