"""The logit lens: read an intermediate hidden state through the model's own output path.

`Readout` reproduces exactly what the model does after its last block: final norm, LM head (with
its bias), and any logit transformation the architecture applies (Gemma 2's final soft-capping,
Cohere's logit scale, Granite's logit divisor). So at the last layer the lens *is* the model's
next-token distribution; `lens_self_check` verifies that on every model at load time.

The vocabulary of multilingual models is huge (262k for Gemma 3), so a [layers x positions x
vocab] tensor is never built: each layer is projected in position chunks and only the top-k and
the requested target tokens are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence

from .progress import Progress, report

if TYPE_CHECKING:
    from .models import HubModel

CHUNK_ELEMENTS = 16 * 1024 * 1024  # positions x vocab floats projected at once (64 MB in fp32)


@dataclass
class Readout:
    """Final norm + unembedding + the architecture's logit post-processing."""

    norm: Any
    head: Any
    softcap: Optional[float] = None
    scale: float = 1.0

    @classmethod
    def from_model(cls, std: Any, config: Any) -> "Readout":
        config = getattr(config, "text_config", None) or config
        softcap = getattr(config, "final_logit_softcapping", None)
        scale = 1.0
        if getattr(config, "logit_scale", None):  # Cohere multiplies logits
            scale *= float(config.logit_scale)
        if getattr(config, "logits_scaling", None):  # Granite divides them
            scale /= float(config.logits_scaling)
        return cls(norm=std.ln_final._module, head=std.lm_head._module, softcap=softcap, scale=scale)

    def logits(self, hidden: Any, apply_norm: bool = True) -> Any:
        """Float32 logits of hidden states `[..., d]` (norm skipped for the paper's raw lens)."""
        import torch

        param = next(self.head.parameters())
        h = hidden.to(device=param.device, dtype=param.dtype)
        if apply_norm:
            h = self.norm(h)
        out = self.head(h).to(torch.float32)
        if self.scale != 1.0:
            out = out * self.scale
        if self.softcap:
            out = torch.tanh(out / self.softcap) * self.softcap
        return out

    def logprobs(self, hidden: Any, apply_norm: bool = True) -> Any:
        return self.logits(hidden, apply_norm).log_softmax(dim=-1)


@dataclass
class LensOutput:
    """Per layer and position: top-k token ids/log-probs and target-token log-probs."""

    layers: list[int]
    top_ids: Any  # long [n_layers, P, k]
    top_logprobs: Any  # float32 [n_layers, P, k]
    target_logprobs: Any  # float32 [n_layers, P, n_targets]
    mixed: Any = None  # float32 [n_layers, P, n_mix]: lens distribution @ mix, when requested


def project(
    model: "HubModel",
    states: Any,
    top_k: int = 5,
    target_ids: Sequence[int] = (),
    apply_norm: bool = True,
    layers: Optional[Sequence[int]] = None,
    progress: Optional[Progress] = None,
    mix: Optional[Any] = None,
) -> LensOutput:
    """Run the lens over `states` `[P, n_layers, d]` (one text, as `Capture.states[i]`).

    `mix` `[vocab, M]` (optional) aggregates the lens distribution into M quantities per cell,
    e.g. p(language | h) = sum_t p(language | t) p_lens(t | h). Memory stays at one chunk of
    `[positions x vocab]` logits whatever the text length.
    """
    import torch

    n_pos, n_layers, _ = states.shape
    layers = list(layers) if layers is not None else list(range(n_layers))
    vocab = model.card.vocab
    chunk = max(1, CHUNK_ELEMENTS // max(vocab, 1))
    k = max(1, min(top_k, vocab))
    tgt = torch.tensor(list(target_ids), dtype=torch.long)
    top_ids = torch.zeros((n_layers, n_pos, k), dtype=torch.long)
    top_lp = torch.zeros((n_layers, n_pos, k), dtype=torch.float32)
    tgt_lp = torch.zeros((n_layers, n_pos, len(tgt)), dtype=torch.float32)
    mixed = None if mix is None else torch.zeros((n_layers, n_pos, mix.shape[1]), dtype=torch.float32)
    with model.lock, torch.inference_mode():
        for li in range(n_layers):
            for start in range(0, n_pos, chunk):
                lp = model.readout.logprobs(states[start:start + chunk, li], apply_norm)
                values, ids = lp.topk(k, dim=-1)
                top_ids[li, start:start + chunk] = ids.cpu()
                top_lp[li, start:start + chunk] = values.cpu()
                if len(tgt):
                    tgt_lp[li, start:start + chunk] = lp[:, tgt.to(lp.device)].cpu()
                if mixed is not None:
                    mixed[li, start:start + chunk] = (lp.exp() @ mix.to(lp.device, lp.dtype)).cpu()
                del lp
            report(progress, (li + 1) / n_layers, f"Lens: layer {layers[li]}")
    return LensOutput(layers=layers, top_ids=top_ids.clone(), top_logprobs=top_lp.clone(),
                      target_logprobs=tgt_lp.clone(),
                      mixed=None if mixed is None else mixed.clone())


def word_variants(tokenizer: Any, word: str) -> list[tuple[str, int]]:
    """First token of the word with and without a leading space: [(variant, token_id)].

    After a space the model predicts " day", after "一" it predicts "day" or "天": both surface
    forms are read and the caller reports which one won.
    """
    out: list[tuple[str, int]] = []
    seen: set[int] = set()
    stripped = word.strip()
    for variant, text in (("space", " " + stripped), ("no-space", stripped)):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if ids and ids[0] not in seen:
            seen.add(ids[0])
            out.append((variant, int(ids[0])))
    return out


def lens_self_check(model: "HubModel", probe: str = "The capital of France is Paris. 今天") -> float:
    """Max |lens at layer L - the model's own log-probs| over a short probe text."""
    import torch

    from .tokens import pad_left

    ids = model.tokenizer(probe)["input_ids"]
    inputs = pad_left([ids], model.tokenizer.pad_token_id, model.device)
    if not model.accepts_position_ids:
        inputs.pop("position_ids")
    saved: list[Any] = []
    with model.lock, torch.inference_mode():
        with model.std.trace(inputs):
            saved.append(model.std.layers_output[model.num_layers - 1].save())
            saved.append(model.std.output.logits.save())
        lens = model.readout.logprobs(saved[0][0])
        own = saved[1][0].to(torch.float32).log_softmax(-1)
        return float((lens - own.to(lens.device)).abs().max())
