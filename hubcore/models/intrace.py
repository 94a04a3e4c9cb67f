"""Code that runs inside nnsight trace bodies, locally or on an NDIF server.

Everything here takes the traced model (`nn`, an nnsight envoy whose roles are renamed to
`layers`, `ln_final`, `lm_head`, `embed`) plus plain tensors and numbers, and uses torch only.
That is what lets one function serve a local run and a remote one: for a remote run the trace
body is shipped as source, and this module is registered for serialisation by value
(`models.remote`), so the server needs nothing of this project installed. Reductions happen
here (top-k, target log-probs, language mixes), so only small tensors travel back.

Layer convention: 0 = the input of block 1 (embedding output), i = output of block i.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch


def residual(nn: Any, layer: int) -> Any:
    """The residual stream at `layer` (read in execution order inside a trace)."""
    if layer == 0:
        return nn.layers[0].input
    out = nn.layers[layer - 1].output
    return out[0] if isinstance(out, tuple) else out


def set_residual(nn: Any, layer: int, value: Any) -> None:
    """Replace the residual stream at `layer` with `value` (a new tensor)."""
    if layer == 0:
        nn.layers[0].input = value
        return
    block = nn.layers[layer - 1]
    out = block.output
    block.output = (value,) + tuple(out[1:]) if isinstance(out, tuple) else value


def skip_blocks(nn: Any, layer: int, value: Any, tuple_out: bool) -> None:
    """Blocks 1..`layer` do not run and block `layer` outputs `value` (nnsight's `skip`); at
    layer 0 the input of block 1 is replaced instead. `tuple_out`: blocks return tuples."""
    if layer == 0:
        nn.layers[0].input = value
        return
    out = (value, None) if tuple_out else value
    for i in range(layer):
        nn.layers[i].skip(out)


def lens_logits(nn: Any, h: Any, apply_norm: bool, head_in: bool, softcap: Optional[float],
                scale: float) -> Any:
    """Float32 logits of states `h` `[..., d]` through the model's own output path."""
    param = nn.lm_head.weight
    x = h.to(device=param.device, dtype=param.dtype)
    if apply_norm:
        x = nn.ln_final(x)
    if head_in:
        x = nn.head_in(x)
    out = nn.lm_head(x).to(torch.float32)
    if scale != 1.0:
        out = out * scale
    if softcap:
        out = torch.tanh(out / softcap) * softcap
    return out


def lens_reduce(nn: Any, h: Any, top_k: int, target_ids: Any, mix: Any, apply_norm: bool,
                head_in: bool, softcap: Optional[float], scale: float, chunk: int,
                own_targets: Any = None) -> list[Any]:
    """Top-k ids and log-probs, target log-probs and a language mix of states `h` `[P, d]`.

    One pass over each chunk of logits: log-probs are `logits - logsumexp(logits)`, so no
    `[P, vocab]` softmax is materialised beyond the chunk itself. `target_ids` `[n_t]` are read
    at every position; `own_targets` `[P, m]` gives each position its own m ids (e.g. the
    English translation and the actual next token of an item). Returns float32 CPU tensors
    `[ids [P, k], logprobs [P, k], targets [P, n_t], mixed [P, M] or None, own [P, m] or None]`.
    """
    ids_out, lp_out, tgt_out, mix_out, own_out = [], [], [], [], []
    n = h.shape[0]
    for start in range(0, n, chunk):
        logits = lens_logits(nn, h[start:start + chunk], apply_norm, head_in, softcap, scale)
        lse = torch.logsumexp(logits, dim=-1, keepdim=True)
        values, ids = torch.topk(logits, top_k, dim=-1)
        ids_out.append(ids.cpu())
        lp_out.append((values - lse).cpu())
        if target_ids is not None and target_ids.numel():
            tgt_out.append((logits[:, target_ids.to(logits.device)] - lse).cpu())
        if mix is not None:
            mix_out.append((torch.exp(logits - lse) @ mix.to(logits.device, logits.dtype)).cpu())
        if own_targets is not None:
            idx = own_targets[start:start + chunk].to(logits.device)
            own_out.append((logits.gather(1, idx) - lse).cpu())
        del logits
    k = lp_out[0].shape[-1] if lp_out else top_k
    n_t = 0 if target_ids is None else int(target_ids.numel())
    cat = lambda xs, shape: torch.cat(xs) if xs else torch.zeros(shape)  # noqa: E731
    return [cat(ids_out, (0, k)).long(), cat(lp_out, (0, k)), cat(tgt_out, (n, n_t)),
            torch.cat(mix_out) if mix_out else None, torch.cat(own_out) if own_out else None]


def lens_reduce_blocked(nn: Any, h: Any, top_k: int, target_ids: Any, mix: Any, apply_norm: bool,
                        head_in: bool, softcap: Optional[float], scale: float, block: int,
                        own_targets: Any = None) -> list[Any]:
    """`lens_reduce` with the head run in vocabulary blocks of `block` rows over ALL positions.

    Why: a `[positions x vocab]` chunk (64 MB) is far larger than the cache, so every pass over
    it (logsumexp, top-k, gathers) went to memory, and a 64-row GEMM streams the 671 MB head once
    per chunk at a poor rate. Here every GEMM has all P rows, and each `[P x block]` logits block
    is reduced while it is still in cache: a running max and sum of exponentials (log-sum-exp),
    a running top-k, target and mix values picked from the block they fall in. Same values as
    `lens_reduce` up to float rounding (the GEMM and the sum run in another order). Needs a
    plain linear head (`nn.lm_head.weight`, optional `.bias`).
    """
    param = nn.lm_head.weight
    bias = getattr(nn.lm_head, "bias", None)
    x = h.to(device=param.device, dtype=param.dtype)
    if apply_norm:
        x = nn.ln_final(x)
    if head_in:
        x = nn.head_in(x)
    n, vocab = x.shape[0], param.shape[0]
    dev = param.device
    top_v = torch.full((n, top_k), float("-inf"), device=dev)
    top_i = torch.zeros((n, top_k), dtype=torch.long, device=dev)
    run_max = torch.full((n, 1), float("-inf"), device=dev)
    run_sum = torch.zeros((n, 1), device=dev)
    n_t = 0 if target_ids is None else int(target_ids.numel())
    tgt = target_ids.to(dev) if n_t else None
    tgt_val = torch.zeros((n, n_t), device=dev)
    mix_m = mix.to(dev, torch.float32) if mix is not None else None
    mix_acc = torch.zeros((n, mix_m.shape[1]), device=dev) if mix_m is not None else None
    own = own_targets.to(dev) if own_targets is not None else None
    own_val = torch.zeros(own.shape, device=dev) if own is not None else None
    buf = None
    for a in range(0, vocab, block):
        b = min(vocab, a + block)
        if bias is None and param.dtype == torch.float32:  # into one reused buffer: no fresh
            if buf is None:  # 64 MB allocation (and its page faults) per block
                buf = torch.empty((n, min(block, vocab)), device=dev)
            logits = torch.mm(x, param[a:b].t(), out=buf[:, :b - a])
        else:
            logits = torch.nn.functional.linear(x, param[a:b], None if bias is None else bias[a:b])
            logits = logits.to(torch.float32)
        if scale != 1.0:
            logits.mul_(scale)
        if softcap:
            logits.div_(softcap).tanh_().mul_(softcap)
        kb = min(top_k, b - a)
        v, i = torch.topk(logits, kb, dim=-1)
        v, j = torch.topk(torch.cat([top_v, v], -1), top_k, dim=-1)
        top_i = torch.cat([top_i, i + a], -1).gather(1, j)
        top_v = v
        if tgt is not None:
            inside = (tgt >= a) & (tgt < b)
            if bool(inside.any()):
                tgt_val[:, inside] = logits[:, tgt[inside] - a]
        if own is not None:
            inside = (own >= a) & (own < b)
            picked = logits.gather(1, (own - a).clamp(0, b - a - 1))
            own_val = torch.where(inside, picked, own_val)
        new_max = torch.maximum(run_max, logits.amax(-1, keepdim=True))
        alpha = torch.exp(run_max - new_max)
        e = logits.sub_(new_max).exp_()  # in place: the block's values were read above
        run_sum = run_sum * alpha + e.sum(-1, keepdim=True)
        if mix_acc is not None:
            mix_acc = mix_acc * alpha + e @ mix_m[a:b]
        run_max = new_max
        del logits, e
    lse = run_max + torch.log(run_sum)
    return [top_i.cpu(), (top_v - lse).cpu(), (tgt_val - lse).cpu(),
            (mix_acc / run_sum).cpu() if mix_acc is not None else None,
            (own_val - lse).cpu() if own_val is not None else None]


def apply_edit(h: Any, rows: Any, cols: Any, table: Any, which: Any, scale: Any, kind: str,
               norm_preserving: bool) -> Any:
    """`h` `[B, T, d]` with an intervention applied, as a new tensor (never in place).

    Edit n adds `scale[n] * table[which[n]]` to the state at (`rows[n]`, `cols[n]`) (or, for
    "replace", writes it there); with `norm_preserving` each edited state keeps its old norm.
    The arithmetic is float32 whatever the model's dtype, then cast back.
    """
    dev = h.device
    rows, cols = rows.to(dev), cols.to(dev)
    out = h.to(torch.float32).clone()  # layers may sit on other GPUs; never edit in place
    old = out[rows, cols]
    vec = table.to(dev)[which.to(dev)] * scale.to(dev)[:, None]
    new = old + vec if kind == "add" else vec
    if norm_preserving:
        new = new * (old.norm(dim=-1, keepdim=True) / new.norm(dim=-1, keepdim=True).clamp_min(1e-12))
    out[rows, cols] = new
    return out.to(h.dtype)


def edit_layers(nn: Any, edits: Sequence[tuple[Any, ...]], save_layers: Sequence[int],
                stop_after: bool) -> list[Any]:
    """Apply `edits` (layer, rows, cols, table, which, scale, kind, norm_preserving) in layer
    order inside a trace. Returns the states of `save_layers` (after that layer's edits)."""
    saved: list[Any] = []
    touched = sorted(set(e[0] for e in edits) | set(save_layers))
    for layer in touched:
        h = residual(nn, layer)
        mine = [e for e in edits if e[0] == layer]
        for edit in mine:
            h = apply_edit(h, *edit[1:])
        if mine:
            set_residual(nn, layer, h)
        if layer in save_layers:
            saved.append(h)
    return saved


def penalise(logits: Any, generated: Sequence[Sequence[int]], penalty: float) -> Any:
    """OpenAI-style frequency penalty: minus penalty x (times the token was generated so far)."""
    if not penalty or not any(generated):
        return logits
    logits = logits.to(torch.float32).clone()
    width = max(len(g) for g in generated)
    index = torch.zeros(len(generated), width, dtype=torch.long)
    weight = torch.zeros(len(generated), width)
    for row, toks in enumerate(generated):
        if toks:
            index[row, : len(toks)] = torch.tensor(list(toks))
            weight[row, : len(toks)] = -float(penalty)
    return logits.scatter_add_(1, index.to(logits.device), weight.to(logits.device))  # our own copy


def pick(logits: Any, greedy: bool, temperature: float, top_p: float, gens: Sequence[Any],
         nucleus: int) -> Any:
    """Next token per row: argmax, or a sample at `temperature` from the top-p nucleus.

    `gens` holds one CPU generator per row, so a row's sample depends only on its own seed.
    The nucleus is looked for among the top `nucleus` tokens first (topk is O(V); a full sort
    of a 262k vocabulary per row and step is not); a wider nucleus falls back to a sort.
    """
    if greedy:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.to(torch.float32) / max(float(temperature), 1e-6), dim=-1).cpu()
    batch, vocab = probs.shape
    picks = []
    if top_p < 1.0:
        k = min(vocab, nucleus)
        top_v, top_i = probs.topk(k, dim=-1)
        for r in range(batch):
            v, i = top_v[r], top_i[r]
            if k < vocab and float(v.sum()) < top_p:
                v, i = probs[r].sort(descending=True)
            keep = int(((v.cumsum(0) - v) < float(top_p)).sum())  # the top token always stays
            j = int(torch.multinomial(v[:keep], 1, generator=gens[r]))
            picks.append(int(i[j]))
    else:
        for r in range(batch):
            picks.append(int(torch.multinomial(probs[r], 1, generator=gens[r])))
    return torch.tensor(picks, dtype=torch.long, device=logits.device)


def decode(nn: Any, logits: Any, cache: Any, mask: Any, pos: Any, steps: int, greedy: bool,
           temperature: float, top_p: float, penalty: float, seeds: Optional[Sequence[int]],
           shared_state: Any, eos: Sequence[int], pad_id: int, stop_at_newline: bool, nucleus: int,
           on_token: Any = None) -> tuple[list[list[int]], Any]:
    """Continue a batch from its prompt-pass `logits` `[B, V]` and KV `cache` for `steps` tokens.

    Every step after the prompt is a plain forward of the model (`nn(...)` inside a remote
    trace runs the module without interventions; a local run passes the plain model after its
    trace), so edits made in the prompt pass reach generated tokens only through the cache. Rows stop at an EOS token (and with `stop_at_newline` after the
    first token holding a newline); finished rows keep decoding a pad token. Returns the new
    token ids per row (EOS excluded) and, when rows share one random stream, its final state.
    `seeds` gives each row its own generator (a row then samples the same whether it runs alone
    or in a sweep); otherwise every row draws in turn from one generator started at
    `shared_state`. `on_token(step, out)` is called after each step (local runs: streaming).
    """
    batch = logits.shape[0]
    mask = mask.to(logits.device)
    pos = pos.to(logits.device) if pos is not None else None
    if seeds is not None:
        gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
        shared = None
    else:
        shared = torch.Generator()
        shared.set_state(shared_state)
        gens = [shared] * batch
    eos_set = set(int(e) for e in eos)
    done = [False] * batch
    out: list[list[int]] = [[] for _ in range(batch)]
    newline: dict[int, bool] = {}
    for step in range(steps):
        nxt = pick(penalise(logits, out, penalty), greedy, temperature, top_p, gens, nucleus)
        for row, tok in enumerate(nxt.tolist()):
            if done[row]:
                continue
            if tok in eos_set:
                done[row] = True
                continue
            out[row].append(tok)
            if stop_at_newline:
                if tok not in newline:
                    newline[tok] = "\n" in nn.tokenizer.decode([tok])
                if newline[tok]:
                    done[row] = True
        if on_token is not None:
            on_token(step, out)
        if all(done) or step == steps - 1:
            break
        feed = torch.tensor([pad_id if d else t for d, t in zip(done, nxt.tolist())],
                            dtype=torch.long, device=logits.device)
        mask = torch.cat([mask, mask.new_ones(batch, 1)], dim=1)
        kwargs: dict[str, Any] = {"attention_mask": mask, "past_key_values": cache, "use_cache": True}
        if pos is not None:
            pos = pos + 1
            kwargs["position_ids"] = pos
        step_out = nn(input_ids=feed[:, None], **kwargs)
        cache, logits = step_out.past_key_values, step_out.logits[:, -1]
    return out, (None if shared is None else shared.get_state())


# ------------------------------------------------------------------ lenses beyond the logit lens
# (issue 16: appended here; the functions above are left as they are)

def translate(h: Any, weight: Any, bias: Any) -> Any:
    """A tuned-lens translator applied to states `h` `[..., d]`: the RMS-normalised state plus
    an affine correction, `x + x @ weight.T + bias` (float32).

    The final norm ignores a state's scale, so translating the normalised state reads the same as
    translating the raw one; it keeps the translator's inputs at unit scale whatever the layer
    (a residual norm of hundreds would otherwise dominate the fit)."""
    x = h.to(torch.float32)
    x = x / x.pow(2).mean(-1, keepdim=True).add(1e-12).sqrt()
    return x + x @ weight.to(x.device, torch.float32).T + bias.to(x.device, torch.float32)


def lens_kl(nn: Any, states: Sequence[Any], final: Any, translators: Sequence[Any], head_in: bool,
            softcap: Optional[float], scale: float, chunk: int) -> list[Any]:
    """KL(final || lens) in nats for each state in `states` (each `[P, d]`), per position.

    `final` `[P, d]` is the last layer's state (its lens is the model's own distribution);
    `translators[i]` is `(weight, bias)` for a tuned-lens reading of `states[i]`, or None for
    the logit lens. Positions run in chunks, so only `[chunk, vocab]` log-probs exist at once.
    Returns one float32 CPU tensor `[P]` per state.
    """
    out: list[list[Any]] = [[] for _ in states]
    n = final.shape[0]
    for start in range(0, n, chunk):
        ref = torch.log_softmax(lens_logits(nn, final[start:start + chunk], True, head_in, softcap, scale), -1)
        p = ref.exp()
        for i, (h, tr) in enumerate(zip(states, translators)):
            x = h[start:start + chunk]
            if tr is not None:
                x = translate(x, tr[0], tr[1])
            lp = torch.log_softmax(lens_logits(nn, x, True, head_in, softcap, scale), -1)
            out[i].append((p * (ref - lp)).sum(-1).clamp_min(0.0).cpu())
            del lp
        del ref, p
    return [torch.cat(parts) if parts else torch.zeros(0) for parts in out]
