"""The tuned lens (Belrose et al. 2023): one affine translator per layer, trained so that each
layer, read through the model's own output path, says what the model will finally say.

Why not the PyPI `tuned-lens` package: version 0.2.0 (2023) imports with our torch and
transformers, but `TunedLens.from_model` refuses Gemma-3 (`NotImplementedError: Unknown model
type Gemma3TextModel`: its model surgery knows GPT-2/NeoX/Llama/OPT/Bloom), and its trainer
needs `datasets`, `torchdata`, `simple-parsing` and `wandb`. So the translators are trained here,
on states captured through `handle.trace`.

The translator of layer l (0..L-1) maps the RMS-normalised state x to `x + x @ W.T + b`
(`models.intrace.translate`); layer L reads through the plain lens (its reading *is* the
model's output). Training minimises KL(final || lens) over text from registry packages
(`data.lens_corpus`), in two steps:

1. a closed-form start: per layer, the least-squares map from the normalised state of layer l
   to the normalised state of layer L (what the head reads, up to the norm's gain);
2. Adam on the KL itself. A full `[tokens x layers x vocab]` product per step costs about
   12 GFLOP per token on a 262k vocabulary, so each step scores one shared vocabulary sample:
   every token the batch's final distributions rank in their top 8, the batch's own input
   tokens, and a uniform sample of the rest, importance-weighted (the sampled-softmax estimate
   of the normaliser). The exact, full-vocabulary KL is what `lens-quality` measures on
   held-out text.

Translators are cached per model (`fingerprint`: the model's name, shape and a sample of its
weights) under the cache directory, complete or absent (`cache.ensure_entry`). Training runs on
this machine only; a remote handle with local weights trains on them, an NDIF-only one cannot.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence

from .cache import cache_root, ensure_entry, invalidate, is_complete
from .data.lens_corpus import corpus, pack, sources
from .errors import HubError, InputError
from .progress import Progress, report, scaled
from .tokens import encode
from .trace import capture_encoded

if TYPE_CHECKING:
    import pandas as pd

    from .models.handle import Handle

DEFAULT_TOKENS = 8192  # trains in about ten minutes on 2 CPU cores for Gemma-3-270M (docs/RESULTS.md)
DEFAULT_EPOCHS = 2
CHUNK_TOKENS = 128  # corpus texts are packed into sequences of about this many tokens
BATCH_TOKENS = 256  # tokens per Adam step
TOP_TARGETS = 8  # each token's top final-distribution tokens join the step's vocabulary sample
SAMPLED_VOCAB = 4096  # uniform sample of the rest of the vocabulary per step
LEARNING_RATE = 1e-4
RIDGE = 1e-3  # least-squares start: ridge as a fraction of the mean feature variance
FILE, META = "translators.pt", "meta.json"
_loaded: dict[str, "Translators"] = {}


@dataclass
class Translators:
    """Per-layer affine translators: `weight[l]` `[d, d]`, `bias[l]` `[d]` for layers 0..L-1."""

    weight: Any
    bias: Any
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def layers(self) -> int:
        return int(self.weight.shape[0])

    def pair(self, layer: int) -> Optional[tuple[Any, Any]]:
        """(weight, bias) of `layer`, None for the last layer (read through the plain lens)."""
        return None if layer >= self.layers else (self.weight[layer], self.bias[layer])


# ------------------------------------------------------------------------------- the cache

def fingerprint(model: "Handle") -> str:
    """A short key for `model`: its name and shape, plus a sample of its weights when they are
    on this machine (two models of one name but other weights get other translators)."""
    import torch

    card = model.card
    parts = [card.name, card.architecture, str(card.layers), str(card.width), str(card.vocab)]
    if model.weights_here:
        params = list(model.hf.parameters())
        with torch.no_grad():
            for p in params[:3] + params[-2:]:
                flat = p.detach().reshape(-1)[:4096].to(torch.float64)
                parts.append(f"{float(flat.sum()):.6e}/{float(flat.abs().sum()):.6e}")
    return hashlib.sha1("|".join(parts).encode("utf-8")).hexdigest()[:16]


def entry_name(model: "Handle") -> str:
    return f"tuned-lens-{fingerprint(model)}"


def entry_path(model: "Handle") -> Path:
    return cache_root() / entry_name(model)


def has_translators(model: "Handle") -> bool:
    return fingerprint(model) in _loaded or is_complete(entry_path(model))


def not_trained(model: "Handle") -> str:
    return (f"No tuned lens is trained for {model.card.name} yet: run `python -m hubcore tune-lens"
            f"{' ' + ' '.join(model.spec.cli_args()) if model.spec.cli_args() else ''}` (about ten "
            "minutes on 2 CPU cores for the default model), or read through the logit lens.")


def load_translators(model: "Handle") -> Translators:
    """The cached translators of `model`; one sentence when there are none (or they do not fit)."""
    import torch

    key = fingerprint(model)
    if key in _loaded:
        return _loaded[key]
    entry = entry_path(model)
    if not is_complete(entry):
        raise InputError(not_trained(model))
    state = torch.load(entry / FILE, map_location="cpu", weights_only=True)
    meta = json.loads((entry / META).read_text(encoding="utf-8"))
    tr = Translators(weight=state["weight"], bias=state["bias"], meta=meta)
    if tr.layers != model.num_layers or tr.weight.shape[-1] != model.hidden_size:
        invalidate(entry)
        raise InputError(not_trained(model))
    _loaded[key] = tr
    return tr


def save_translators(model: "Handle", tr: Translators) -> Path:
    """Write `tr` as `model`'s translators (replacing any earlier ones), atomically."""
    import torch

    def build(tmp: Path) -> None:
        torch.save({"weight": tr.weight.contiguous(), "bias": tr.bias.contiguous()}, tmp / FILE)
        (tmp / META).write_text(json.dumps(tr.meta, indent=1, ensure_ascii=False), encoding="utf-8")

    entry = entry_path(model)
    invalidate(entry)
    _loaded.pop(fingerprint(model), None)
    path = ensure_entry(entry_name(model), build)
    _loaded[fingerprint(model)] = tr
    return path


# ------------------------------------------------------------------------------ training

@contextlib.contextmanager
def frozen(module: Any) -> Iterator[None]:
    """The model's own weights take no gradient while the translators train (and leak none)."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def normalised(h: Any) -> Any:
    """`h / rms(h)` over the last dimension (what `intrace.translate` starts from)."""
    return h / h.pow(2).mean(-1, keepdim=True).add(1e-12).sqrt()


def training_chunks(model: "Handle", tokens: int) -> tuple[list[str], dict[str, int]]:
    """Corpus texts packed into sequences of about `CHUNK_TOKENS`, `tokens` in all, and the
    texts per source they draw on."""
    texts = corpus("train")
    # token counts of the texts up to the budget (a text rarely has fewer than 3 tokens)
    head = texts[: max(1, tokens)]
    lengths = [len(model.tokenizer(t.text, add_special_tokens=False)["input_ids"]) for t in head]
    chunks = pack([t.text for t in head], lengths, CHUNK_TOKENS, tokens)
    used, total = [], 0
    for t, n in zip(head, lengths):
        if total >= tokens:
            break
        used.append(t)
        total += n + 1
    return chunks, sources(used)


def final_targets(model: "Handle", final: Any, progress: Optional[Progress]) -> tuple[Any, Any, Any]:
    """Per token of the last layer's states `[N, d]`: the log-normaliser of the model's own
    distribution, its top `TOP_TARGETS` ids and sum p log p (one full-vocabulary pass)."""
    import torch

    rows = max(1, (16 * 1024 * 1024) // max(model.vocab, 1))
    lse, top, negent = [], [], []
    n = final.shape[0]
    for start in range(0, n, rows):
        logits = model.readout.logits(final[start:start + rows])
        z = torch.logsumexp(logits, -1)
        lp = logits - z[:, None]
        lse.append(z)
        top.append(torch.topk(logits, min(TOP_TARGETS, logits.shape[-1]), -1).indices)
        negent.append((lp.exp() * lp).sum(-1))
        report(progress, min(1.0, (start + rows) / n), f"Tuned lens: final distributions {min(n, start + rows)}/{n}")
    return torch.cat(lse), torch.cat(top), torch.cat(negent)


def least_squares_start(x: Any, y: Any) -> tuple[Any, Any]:
    """Translators (W, b) per layer from ridge regression of `y` `[N, d]` on each `x[:, l]`
    (`x` `[N, L, d]`, both normalised): `x + x @ W.T + b` then starts at the best linear map."""
    import torch

    n, n_layers, d = x.shape
    weights, biases = [], []
    y64 = y.to(torch.float64)
    for layer in range(n_layers):
        xl = torch.cat([x[:, layer].to(torch.float64), torch.ones(n, 1, dtype=torch.float64)], dim=1)
        gram = xl.T @ xl
        ridge = RIDGE * float(torch.diagonal(gram)[:d].mean())
        gram[range(d), range(d)] += ridge  # the bias column is not shrunk
        m = torch.linalg.solve(gram, xl.T @ y64)  # [d + 1, d]: x @ m[:d] + m[d] ~ y
        weights.append((m[:d] - torch.eye(d, dtype=torch.float64)).T.to(torch.float32))
        biases.append(m[d].to(torch.float32))
    return torch.stack(weights), torch.stack(biases)


def sampled_kl(model: "Handle", x: Any, final: Any, lse: Any, negent: Any, top: Any, own: Any,
               weight: Any, bias: Any, generator: Any) -> Any:
    """The KL(final || tuned lens) estimate `[B, L]` of one batch on a sampled vocabulary.

    `x` `[B, L, d]` normalised states, `final` `[B, d]` last-layer states, `lse`/`negent` `[B]`
    and `top` `[B, k]` from `final_targets`, `own` `[B]` the input tokens. The vocabulary sample
    S = every id in `top` and `own` (weight 1) plus a uniform sample of the rest (weight
    (V - |T|) / |R|), so sum_v p_v z_v and log sum_v e^z_v are estimated without bias in the sum.
    """
    import torch

    vocab = model.vocab
    kept = torch.unique(torch.cat([top.reshape(-1), own.reshape(-1)]))
    rest = torch.randint(0, vocab, (SAMPLED_VOCAB,), generator=generator)
    mask = torch.ones(vocab, dtype=torch.bool)
    mask[kept] = False
    rest = torch.unique(rest[mask[rest]])
    ids = torch.cat([kept, rest])
    log_w = torch.cat([torch.zeros(len(kept)),
                       torch.full((len(rest),), math.log(max(vocab - len(kept), 1) / max(len(rest), 1)))])
    with torch.no_grad():
        p = (model.readout.logits(final, ids=ids) - lse[:, None]).exp()  # [B, S], exact p on S
    b, n_layers, d = x.shape
    moved = x + torch.einsum("bld,lkd->blk", x, weight) + bias
    z = model.readout.logits(moved.reshape(b * n_layers, d), ids=ids).reshape(b, n_layers, -1)
    w = log_w.exp()
    cross = -(z * (p * w)[:, None, :]).sum(-1) + torch.logsumexp(z + log_w, dim=-1)
    return cross + negent[:, None]


def train_translators(
    model: "Handle",
    tokens: int = DEFAULT_TOKENS,
    epochs: int = DEFAULT_EPOCHS,
    seed: int = 0,
    progress: Optional[Progress] = None,
) -> tuple[Translators, "pd.DataFrame"]:
    """Train `model`'s translators on `tokens` corpus tokens; returns them (not yet saved) and a
    per-epoch, per-layer table of the training-set KL estimate (epoch 0 = the least-squares
    start, before any KL step). Timings per stage go into `Translators.meta`."""
    import pandas as pd
    import torch

    if tokens < 256:
        raise InputError("Train the tuned lens on at least 256 tokens.")
    if epochs < 0:
        raise InputError("The number of epochs cannot be negative.")
    if not model.weights_here:
        raise HubError("Training the tuned lens needs the model's weights on this machine; an "
                       "NDIF-only model cannot be trained here (train it where its weights are).")
    work = model.variant("off") if model.remote != "off" else model
    top_layer = model.num_layers
    clock = {"start": time.perf_counter()}
    cpu_start = time.process_time()
    chunks, used = training_chunks(work, tokens)
    encoded = encode(work.tokenizer, chunks)
    report(progress, 0.0, f"Tuned lens: reading {sum(len(e) for e in encoded):,} tokens in {len(encoded)} sequences")
    cap = capture_encoded(work, encoded, positions=[list(range(1, len(e))) for e in encoded],
                          progress=scaled(progress, 0.0, 0.35))
    states = torch.cat(cap.states)  # [N, L + 1, d], BOS left out (its state is an outlier)
    own = torch.tensor([i for e in encoded for i in e.ids[1:]], dtype=torch.long)
    clock["captured"] = time.perf_counter()
    n = states.shape[0]
    with work.lock, torch.inference_mode():
        lse, top, negent = final_targets(work, states[:, top_layer], scaled(progress, 0.35, 0.6))
    lse, top, negent = lse.clone(), top.clone(), negent.clone()  # usable outside inference mode
    clock["targets"] = time.perf_counter()
    x = normalised(states[:, :top_layer])
    final = states[:, top_layer]
    weight, bias = least_squares_start(x, normalised(final))
    clock["least_squares"] = time.perf_counter()
    weight, bias = weight.clone().requires_grad_(True), bias.clone().requires_grad_(True)
    opt = torch.optim.Adam([weight, bias], lr=LEARNING_RATE)
    gen = torch.Generator().manual_seed(int(seed))
    history: list[tuple[int, int, float]] = []
    steps = max(1, math.ceil(n / BATCH_TOKENS))
    with work.lock, frozen(work.hf):
        for epoch in range(epochs + 1):
            order = torch.randperm(n, generator=gen)
            sums = torch.zeros(top_layer, dtype=torch.float64)
            for step in range(steps):
                idx = order[step * BATCH_TOKENS:(step + 1) * BATCH_TOKENS]
                if epoch == 0:  # the start's estimate, no step taken
                    with torch.no_grad():
                        kl = sampled_kl(work, x[idx], final[idx], lse[idx], negent[idx], top[idx], own[idx],
                                        weight, bias, gen)
                else:
                    kl = sampled_kl(work, x[idx], final[idx], lse[idx], negent[idx], top[idx], own[idx],
                                    weight, bias, gen)
                    opt.zero_grad()
                    kl.mean().backward()
                    opt.step()
                sums += kl.detach().sum(0).to(torch.float64)
                done = (epoch * steps + step + 1) / ((epochs + 1) * steps)
                report(progress, 0.6 + 0.4 * done,
                       f"Tuned lens: {'start' if epoch == 0 else f'epoch {epoch}/{epochs}'}, step "
                       f"{step + 1}/{steps}, KL ≈ {float(kl.detach().mean()):.2f}")
            history += [(epoch, layer, float(sums[layer] / n)) for layer in range(top_layer)]
    clock["trained"] = time.perf_counter()
    meta = {
        "model": model.card.name, "fingerprint": fingerprint(model), "tokens": int(n),
        "sequences": len(encoded), "epochs": int(epochs), "seed": int(seed), "sources": used,
        "batch_tokens": BATCH_TOKENS, "sampled_vocab": SAMPLED_VOCAB, "top_targets": TOP_TARGETS,
        "learning_rate": LEARNING_RATE,
        "seconds": {"capture": round(clock["captured"] - clock["start"], 1),
                    "final_distributions": round(clock["targets"] - clock["captured"], 1),
                    "least_squares": round(clock["least_squares"] - clock["targets"], 1),
                    "kl_training": round(clock["trained"] - clock["least_squares"], 1),
                    "total": round(clock["trained"] - clock["start"], 1),
                    # CPU seconds of this process (all threads): on a shared machine the wall time
                    # above includes waiting for cores
                    "cpu": round(time.process_time() - cpu_start, 1)},
        "threads": torch.get_num_threads(),
    }
    tr = Translators(weight=weight.detach().clone(), bias=bias.detach().clone(), meta=meta)
    table = pd.DataFrame(history, columns=["epoch", "layer", "kl_estimate"])
    return tr, table


def translator_pairs(model: "Handle", layers: Sequence[int]) -> list[Optional[tuple[Any, Any]]]:
    """(weight, bias) per layer in `layers` (None for the last), from the cached translators."""
    tr = load_translators(model)
    return [tr.pair(int(layer)) for layer in layers]
