"""Capture benchmark on the default model; every ratio below is measured in this one run.

1. batched nnsight capture of every layer at the last token of 200 short texts vs the paper's way
   (one text at a time, `output_hidden_states=True`), with the results compared;
2. capture vs a plain batched forward (same batches, logits computed);
3. load time of the cached default model;
4. peak memory of the logit lens on a 256-token text (model already loaded).

Run: python bench/capture.py
"""

from __future__ import annotations

import resource
import time

from common import best_time, short_texts

import torch


def _rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    from hubcore import models
    from hubcore.tokens import encode, pad_left, plan_batches
    from hubcore.trace import DEFAULT_TOKEN_BUDGET, capture_last

    torch.set_grad_enabled(False)
    models.get_model(models.ModelSpec())  # make sure the cache exists before timing a load
    start = time.perf_counter()
    model = models.load_model(models.ModelSpec())
    load_s = time.perf_counter() - start
    hf, tok = model.hf, model.tokenizer
    texts = short_texts(200)
    encoded = encode(tok, texts)

    def loop() -> list[torch.Tensor]:
        out = []
        for e in encoded:
            ids = torch.tensor([e.ids])
            hs = hf(input_ids=ids, output_hidden_states=True).hidden_states
            out.append(torch.stack([h[0, -1] for h in hs]))
        return out

    def batched() -> torch.Tensor:
        return capture_last(model, texts)

    def plain_forward() -> None:
        for batch in plan_batches([len(e) for e in encoded], DEFAULT_TOKEN_BUDGET):
            inputs = pad_left([encoded[i].ids for i in batch], tok.pad_token_id)
            hf(**inputs)

    ours = batched()
    ref = loop()
    ref_t = torch.stack(ref)
    # HF's last hidden state is already final-normed; ours is the raw block output (layer L)
    ours_cmp = ours.clone()
    ours_cmp[:, -1] = model.readout.norm(ours[:, -1])
    scale = ref_t.abs().amax(dim=-1, keepdim=True).clamp(min=1e-6)
    rel = ((ours_cmp - ref_t).abs() / scale).max().item()
    cos = torch.nn.functional.cosine_similarity(ours_cmp, ref_t, dim=-1).min().item()

    t_loop = best_time(loop, repeat=2)
    t_batched = best_time(batched)
    t_forward = best_time(plain_forward)

    lens = _lens_memory_in_fresh_process()
    print(f"machine: {torch.get_num_threads()} CPU threads, torch {torch.__version__}")
    print(f"texts: {len(texts)} short texts, {sum(map(len, encoded))} tokens")
    print(f"[1] one-at-a-time output_hidden_states loop: {t_loop:.2f} s")
    print(f"    batched nnsight capture (all {model.num_layers + 1} layers, last token): {t_batched:.2f} s")
    print(f"    speed-up: {t_loop / t_batched:.1f}x (target >= 8x)")
    print(f"    equal results: max relative diff {rel:.1e}, min cosine {cos:.7f}")
    print(f"[2] plain batched forward (with LM head): {t_forward:.2f} s")
    print(f"    capture / forward time ratio: {t_batched / t_forward:.2f} "
          f"(overhead {100 * (t_batched / t_forward - 1):+.0f}%, target <= +10%)")
    print(f"[3] cached default-model load (incl. nnterp wrap + lens check): {load_s:.1f} s")
    print(f"[4] logit lens, {lens['tokens']}-token text, {model.num_layers + 1} layers, fresh process: "
          f"{lens['seconds']:.1f} s; RSS with the model loaded {lens['rss_model_mb']:.0f} MB, "
          f"peak during the lens {lens['peak_mb']:.0f} MB (+{lens['peak_mb'] - lens['rss_model_mb']:.0f} MB "
          f"for the lens; target: peak < 2048 MB)")


def _lens_memory_in_fresh_process() -> dict:
    """Peak RSS is monotonic per process, so the lens is measured in a process of its own."""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, __file__, "--lens-memory"], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def lens_memory() -> None:
    import json

    from hubcore import models
    from hubcore.experiments.logit_lens import logit_lens
    from hubcore.tokens import encode

    torch.set_grad_enabled(False)
    model = models.get_model(models.ModelSpec())
    tok = model.tokenizer
    ids = encode(tok, [" ".join(["El gato duerme en el sofá mientras llueve."] * 40)])[0].ids
    text = tok.decode(ids[1:256])  # 255 tokens + BOS = 256 positions
    rss_model = _current_rss_mb()
    start = time.perf_counter()
    report = logit_lens(model, text, top_k=5, targets=("cat", "gato"))
    seconds = time.perf_counter() - start
    print(json.dumps({"tokens": len(report.input_tokens), "seconds": seconds,
                      "rss_model_mb": rss_model, "peak_mb": _rss_peak_mb()}))


def _current_rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


if __name__ == "__main__":
    import sys

    lens_memory() if "--lens-memory" in sys.argv else main()
