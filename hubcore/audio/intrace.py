"""Speech code that runs inside nnsight trace bodies, locally or on an NDIF server.

Like `hubcore.models.intrace` (whose helpers these build on), everything here takes the traced
model `nn` (roles renamed: `layers`, `ln_final`, `lm_head`, `embed`, plus `encoder_layers` and,
for Whisper, `embed_positions`) and plain tensors, numbers and lists, and uses torch only. This
module is registered for serialisation by value when it is imported, so a remote trace body that
calls it needs nothing of this project on the server.

Why Whisper's decode loop lives here: a trace body runs the encoder, the prompt and every greedy
step as ONE job (one request for a remote run), and a steered step cannot be a plain forward
(`nn(...)` inside a trace runs without interventions), so it runs the decoder block by block
(`whisper_step`) and adds the steering vector between two blocks.

Layer convention on both stacks: 0 = the input of block 1, i = the output of block i.
"""

from __future__ import annotations

import sys
from typing import Any, Optional, Sequence

import torch


def stack_states(layers: Any, n: int) -> list[Any]:
    """Layer 0 (input of block 1) and the output of each of the `n` blocks of one stack."""
    out = [layers[0].input]
    for i in range(n):
        h = layers[i].output
        out.append(h[0] if isinstance(h, tuple) else h)
    return out


def pool_frames(states: Any, frames: Any) -> Any:
    """Mean of `states` `[B, T, n, d]` over each row's first `frames[row]` positions: `[B, n, d]`."""
    frames = frames.to(states.device)
    keep = (torch.arange(states.shape[1], device=states.device)[None, :] < frames[:, None])
    total = (states * keep[:, :, None, None].to(states.dtype)).sum(dim=1)
    return total / frames.to(states.dtype)[:, None, None]


def read_stacks(nn: Any, n_enc: int, n_dec: int, encoder: bool, decoder: bool,
                frames: Optional[Any]) -> list[Any]:
    """[encoder states or None, decoder states or None], float32 on the CPU, read in execution order.

    Encoder `[B, T_enc, n_enc + 1, d]`, or `[B, n_enc + 1, d]` averaged over each row's first
    `frames[row]` frames when `frames` is given (so a remote run ships the mean, not 1500 frames);
    decoder `[B, T, n_dec + 1, d]`.
    """
    enc = dec = None
    if encoder:
        enc = torch.stack([s.to(torch.float32) for s in stack_states(nn.encoder_layers, n_enc)], dim=2)
        if frames is not None:
            enc = pool_frames(enc, frames)
        enc = enc.cpu()
    if decoder:
        dec = torch.stack([s.to(torch.float32) for s in stack_states(nn.layers, n_dec)], dim=2).cpu()
    return [enc, dec]


def whisper_step(nn: Any, ids: Any, enc: Any, cache: Any, n_layers: int, layer: int, delta: Any) -> Any:
    """Float32 logits `[B, V]` for one new token per row, `delta` `[B, 1, d]` added to the output
    of decoder block `layer` (1-based).

    The same computation as Whisper's decoder forward for a single new position (token + learned
    position embedding, every block with self- and cross-attention on `cache`, final norm, output
    projection); no attention mask is needed for one position that sees the whole cache.
    """
    past = cache.get_seq_length()
    h = nn.embed(ids) + nn.embed_positions(ids, past_key_values_length=past).to(enc.device)
    for i in range(n_layers):
        out = nn.layers[i](h, None, enc, past_key_values=cache, use_cache=True)
        h = out[0] if isinstance(out, tuple) else out
        if i == layer - 1:
            h = h + delta.to(h.device, h.dtype)
    return nn.lm_head(nn.ln_final(h))[:, -1].to(torch.float32)


def whisper_decode(nn: Any, enc: Any, cache: Any, last: Any, repeat: int, steps: int, always: Any,
                   begin: Any, eot: int, n_layers: int, steer: Optional[Sequence[Any]],
                   on_token: Any = None) -> Any:
    """Greedy tokens `[R, n]` (CPU) continuing Whisper prompts whose last token `last` `[B, 1]`
    has not been fed yet; `cache` holds the rest of each prompt, `enc` the encoder output.

    With `repeat` > 1 every clip becomes `repeat` consecutive rows (cache and encoder rows
    repeated, so the unsteered prefix ran once per clip). Whisper's rules: `always` suppressed,
    `begin` suppressed at the first step, a finished row keeps emitting `eot`; the loop ends when
    every row has. `steer` = [layer, vector [d], strengths [R], stop token or -1]: the vector
    times the row's strength is added to decoder block `layer`'s output at every fed position
    (the last prompt token and each generated one); a row stops being steered once it has
    emitted the stop token. `on_token(step)` runs after each step (local runs: progress).
    """
    if repeat > 1:
        cache.batch_repeat_interleave(repeat)
        enc = enc.repeat_interleave(repeat, dim=0)
        last = last.repeat_interleave(repeat, dim=0)
    device = enc.device
    rows = last.shape[0]
    ids = last.to(device)
    always, begin = always.to(device), begin.to(device)
    done = torch.zeros(rows, dtype=torch.bool, device=device)
    active = torch.ones(rows, dtype=torch.bool, device=device)
    out: list[Any] = []
    for step in range(steps):
        if steer is None:
            res = nn(encoder_outputs=(enc,), decoder_input_ids=ids, past_key_values=cache, use_cache=True)
            logits = res.logits[:, -1].to(torch.float32)
        else:
            layer, vector, strengths, _ = steer
            scale = strengths.to(device, torch.float32) * active.to(torch.float32)
            delta = scale[:, None, None] * vector.to(device, torch.float32)[None, None, :]
            logits = whisper_step(nn, ids, enc, cache, n_layers, int(layer), delta)
        logits[:, always] = float("-inf")
        if step == 0:
            logits[:, begin] = float("-inf")
        nxt = logits.argmax(dim=-1)
        nxt = torch.where(done, torch.full_like(nxt, eot), nxt)
        out.append(nxt.cpu())
        done = done | (nxt == eot)
        if steer is not None and int(steer[3]) >= 0:
            active = active & (nxt != int(steer[3]))
        ids = nxt[:, None]
        if on_token is not None:
            on_token(step)
        if bool(done.all()):
            break
    return torch.stack(out, dim=1) if out else torch.zeros(rows, 0, dtype=torch.long)


def _register() -> None:
    """Ship this module by value with remote traces (the server has no hubcore)."""
    import nnsight

    nnsight.register(sys.modules[__name__])


_register()
