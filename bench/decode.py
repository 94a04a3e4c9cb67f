"""Greedy decoding of the default model vs its hardware floors, measured in ONE run.

Floors (measured here, interleaved with the workload):
- memory bandwidth: summing a 1 GiB fp32 tensor (GB/s). Every decoding step must read every
  weight it uses once: the blocks and the output head (tied with the embedding on Gemma-3; an
  embedding row lookup is free), so the batch-1 floor is those bytes / bandwidth;
- compute: an fp32 GEMM of the head's shape at lens width (`[229 x d] @ [d x vocab]`, GFLOP/s);
  a batch-8 step needs 2 x 8 x (weights) FLOPs, and its floor is the larger of that compute
  time and the bandwidth floor (a batch of 8 still reads the weights once).

Workload: `steering.generation.generate_ids` (locally: the prompt trace, then the decode loop on
the plain model with `models.decode_kernels`), greedy,
no intervention, `--tokens` new tokens, at batch 1 and batch 8; per-token time = the median gap
between consecutive `on_token` calls (one forward + pick + host work; the prompt pass excluded).
The head's share is shown by timing its GEMV + argmax alone, with PyTorch's `linear` and
with `models.decode_kernels` (what the local loop uses). At 2-64 rows the loop multiplies
oneDNN-packed copies of the weights (`decode_kernels.PackedWeights`): their size (memory held
beside the model while it is loaded) and the one-off time to make them are printed too. The load average is printed: on a
shared 2-core machine only ratios within this run mean anything. Issue 17's targets: batch 1
<= 2.0x the bandwidth floor; batch 8 <= 2.5x its floor.

Run: python bench/decode.py [--tokens 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from common import short_texts

import torch

PROMPT = "The history of the city begins in the twelfth century, when"


def weight_bytes(hf) -> tuple[int, int]:
    """(bytes a decoding step reads: every distinct parameter but an untied input embedding,
    FLOPs per token: 2 x the matrix weights read)."""
    emb = hf.get_input_embeddings().weight
    head = hf.get_output_embeddings().weight
    seen, total, matrix = set(), 0, 0
    for p in hf.parameters():
        if id(p) in seen or (p is emb and emb is not head):
            continue
        seen.add(id(p))
        total += p.numel() * p.element_size()
        if p.dim() == 2:
            matrix += p.numel()
    return total, 2 * matrix


def step_times(fn) -> list[float]:
    """Gaps between consecutive streamed steps of one generation."""
    marks: list[float] = []
    fn(lambda step, out: marks.append(time.perf_counter()))
    return [b - a for a, b in zip(marks, marks[1:])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from hubcore import models
    from hubcore.models.decode_kernels import PACKED, decode_kernels
    from hubcore.steering.generation import generate_ids

    torch.set_num_threads(2)
    torch.set_grad_enabled(False)
    model = models.get_model(models.ModelSpec())
    nbytes, flops_per_token = weight_bytes(model.hf)
    weight = model.readout.head.weight
    vocab, d = weight.shape
    big = torch.ones(256 * 1024 * 1024)  # 1 GiB
    lens_x = torch.randn(229, d)
    one = torch.randn(1, d)
    prompts8 = [f"{t} And then" for t in short_texts(8)]

    def bandwidth() -> float:
        start = time.perf_counter()
        big.sum()
        return time.perf_counter() - start

    def gemm() -> float:
        start = time.perf_counter()
        torch.nn.functional.linear(lens_x, weight)
        return time.perf_counter() - start

    def head() -> float:
        start = time.perf_counter()
        torch.nn.functional.linear(one, weight).argmax(-1)
        return time.perf_counter() - start

    def head_kernels() -> float:
        with decode_kernels("cpu"):
            return head()

    def decode(prompts):
        return lambda cb: generate_ids(model, prompts, max_new_tokens=args.tokens, greedy=True, on_token=cb)

    decode([PROMPT])(lambda *a: None)  # warm-up
    PACKED.clear()
    start = time.perf_counter()
    decode(prompts8[:2])(lambda *a: None)  # packs every weight once (the first multi-row step)
    first_rows = time.perf_counter() - start
    start = time.perf_counter()
    decode(prompts8[:2])(lambda *a: None)
    packing = first_rows - (time.perf_counter() - start)
    t: dict[str, list[float]] = {k: [] for k in ("bw", "gemm", "head", "headk", "b1", "b8")}
    loads, steps = [], {"b1": 0, "b8": 0}
    for _ in range(args.repeats):
        t["bw"].append(bandwidth())
        gaps1 = step_times(decode([PROMPT]))
        t["head"].append(statistics.median(head() for _ in range(5)))
        t["headk"].append(statistics.median(head_kernels() for _ in range(5)))
        t["gemm"].append(gemm())
        gaps8 = step_times(decode(prompts8))
        t["bw"].append(bandwidth())
        t["b1"].append(statistics.median(gaps1))
        t["b8"].append(statistics.median(gaps8))
        steps["b1"], steps["b8"] = len(gaps1), len(gaps8)
        loads.append(os.getloadavg()[0])
    med = {k: statistics.median(v) for k, v in t.items()}
    bw = 4 * 256 * 1024 * 1024 / med["bw"]
    rate = 2.0 * 229 * d * vocab / med["gemm"]
    floor1 = nbytes / bw
    floor8 = max(floor1, 8 * flops_per_token / rate)
    print(f"default model, fp32, {torch.get_num_threads()} threads, {args.repeats} repetitions (medians), "
          f"{args.tokens} new tokens")
    print(f"weights read per step {nbytes / 1e9:.3f} GB; {flops_per_token / 1e9:.2f} GFLOP per token")
    print(f"bandwidth (1 GiB read)        : {bw / 1e9:6.1f} GB/s -> batch-1 floor {floor1 * 1e3:6.1f} ms/step")
    print(f"GEMM [229 x {d}] @ [{d} x {vocab}]: {rate / 1e9:6.1f} GFLOP/s -> batch-8 compute "
          f"{8 * flops_per_token / rate * 1e3:6.1f} ms/step, floor {floor8 * 1e3:6.1f} ms/step")
    print(f"head GEMV + argmax alone      : {med['head'] * 1e3:6.1f} ms ({weight.numel() * 4 / med['head'] / 1e9:.1f} GB/s)")
    print(f"  the same, decode kernels    : {med['headk'] * 1e3:6.1f} ms ({weight.numel() * 4 / med['headk'] / 1e9:.1f} GB/s; "
          "hubcore.models.decode_kernels, as the local decoding loop runs it)")
    print(f"decode batch 1                : {med['b1'] * 1e3:6.1f} ms/step ({steps['b1']} gaps)   "
          f"ratio to the bandwidth floor {med['b1'] / floor1:.2f}x")
    print(f"decode batch 8                : {med['b8'] * 1e3:6.1f} ms/step ({steps['b8']} gaps)   "
          f"ratio to its floor {med['b8'] / floor8:.2f}x")
    print(f"packed weight copies          : {PACKED.bytes / 1e9:.3f} GB held beside the model; made once, "
          f"~{max(packing, 0.0):.2f} s on the first multi-row generation")
    print(f"load average during the runs: {', '.join(f'{v:.1f}' for v in loads)}")


if __name__ == "__main__":
    main()
