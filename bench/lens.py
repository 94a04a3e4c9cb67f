"""Logit lens on a 229-token text vs the GEMM floor of its head projections, measured in ONE run.

The lens of every layer (0..L) at every position must at least project each state through the
output head: (L + 1) GEMMs of `[positions x d] @ [d x vocab]` (19 x 229 x 640 x 262,144 on the
default model). The floor is exactly those GEMMs (`torch.nn.functional.linear` with the model's
own head weight, the output materialised), timed in this run; the workload is `lens_at` as the
`lens` experiment calls it (top-5, two target words), and `--compare` adds the row-chunked path
(`VOCAB_BLOCK = 0`, the path before vocabulary blocking). Floor and workloads alternate, several
repetitions, medians; the load average is printed beside the numbers (a shared 2-core machine:
only ratios within this run mean anything). Issue 17's target: lens / floor <= 1.3.

Run: python bench/lens.py [--tokens 229] [--repeats 3] [--compare]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from common import short_texts

import torch


def text_of(tokenizer, n_tokens: int) -> str:
    """A varied multilingual text of at least `n_tokens` tokens (BOS included), cut to the first
    text that reaches it."""
    from hubcore.tokens import encode

    parts: list[str] = []
    for t in short_texts(400):
        parts.append(t)
        if len(encode(tokenizer, [" ".join(parts)])[0]) >= n_tokens:
            break
    return " ".join(parts)


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=229)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compare", action="store_true", help="also time the row-chunked path")
    args = parser.parse_args()

    import hubcore.lens as lens_mod
    from hubcore import models
    from hubcore.lens import lens_at, word_variants
    from hubcore.tokens import Encoded, encode

    torch.set_num_threads(2)
    torch.set_grad_enabled(False)
    model = models.get_model(models.ModelSpec())
    tok = model.tokenizer
    full = encode(tok, [text_of(tok, args.tokens)])[0]
    enc = [Encoded(full.ids[:args.tokens], full.offsets[:args.tokens])]  # exactly --tokens positions
    targets = [i for w in ("day", "天") for _, i in word_variants(tok, w)]
    n_layers = model.num_layers + 1
    weight = model.readout.head.weight
    vocab, d = weight.shape
    x = torch.randn(args.tokens, d, dtype=weight.dtype)

    def floor() -> None:
        for _ in range(n_layers):
            torch.nn.functional.linear(x, weight)

    def lens() -> object:
        return lens_at(model, enc, positions="all", top_k=5, target_ids=targets)

    block = lens_mod.VOCAB_BLOCK

    def row_chunked() -> object:
        lens_mod.VOCAB_BLOCK = 0
        try:
            return lens()
        finally:
            lens_mod.VOCAB_BLOCK = block

    lens_at(model, [Encoded(enc[0].ids[:8], enc[0].offsets[:8])], top_k=5)  # warm-up: first trace
    work = {"floor": floor, "lens": lens}
    if args.compare:
        work["row-chunked lens"] = row_chunked
    times: dict[str, list[float]] = {k: [] for k in work}
    last: dict[str, object] = {}
    loads = []
    for r in range(args.repeats):
        for name, fn in work.items():
            sec, last[name] = timed(fn)
            times[name].append(sec)
            loads.append(os.getloadavg()[0])
            print(f"  repetition {r + 1}: {name} {sec:.2f} s (load {loads[-1]:.1f})", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    flops = 2.0 * n_layers * args.tokens * d * vocab
    print(f"lens of {n_layers} layers x {args.tokens} positions, vocab {vocab}, d {d}, "
          f"{torch.get_num_threads()} threads, VOCAB_BLOCK {block}, {args.repeats} repetitions (medians)")
    print(f"GEMM floor ({n_layers} x [{args.tokens} x {d}] @ [{d} x {vocab}]): {med['floor']:7.2f} s "
          f"({flops / med['floor'] / 1e9:.1f} GFLOP/s)")
    for name in work:
        if name != "floor":
            print(f"{name:<24}: {med[name]:7.2f} s   ratio to the floor {med[name] / med['floor']:.2f}x")
    if args.compare:
        a, b = last["lens"], last["row-chunked lens"]
        same = torch.equal(a.top_ids[..., 0], b.top_ids[..., 0])
        diff = max((a.top_logprobs - b.top_logprobs).abs().max().item(),
                   (a.target_logprobs - b.target_logprobs).abs().max().item())
        print(f"blocked vs row-chunked: top-1 identical {same}, max |log p difference| {diff:.1e}")
    print(f"load average during the runs: {', '.join(f'{v:.1f}' for v in loads)}")


if __name__ == "__main__":
    main()
