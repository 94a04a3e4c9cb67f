"""Sweep benchmark: does a strength sweep cost less than one generation per strength?

Measured in one run on the default model, greedy decoding:
1. the arithmetic +1 intervention: 7 strengths (the paper's 0..3 by 0.5) on 20 items as ONE batched
   generation vs a single strength on the same items (target: <= 3x);
2. the same 7 strengths run one generation call each (what batching saves).

Run: python bench/sweep.py
"""

from __future__ import annotations

from common import best_time

import torch


def main() -> None:
    from hubcore.data.arithmetic import sample_expressions, steering_prompts
    from hubcore.experiments.arithmetic import FEW_SHOT, PAPER_STRENGTHS
    from hubcore.models import ModelSpec, get_model
    from hubcore.steering import hidden_difference, sweep_generate

    torch.set_grad_enabled(False)
    model = get_model(ModelSpec())
    layer = model.num_layers // 2
    exprs = [e for e in sample_expressions(846, seed=0, ops=("+",)) if e.c >= 2][:20]
    prompts = [FEW_SHOT + e.prefix for e in exprs]
    vectors = hidden_difference(model, [steering_prompts(e)[0] for e in exprs],
                                [steering_prompts(e)[1] for e in exprs], layer)

    def sweep(coefs):
        return sweep_generate(model, prompts, vectors, layer, coefs, max_new_tokens=3)

    sweep([0.0])  # warm-up
    t_one = best_time(lambda: sweep([1.0]))
    t_all = best_time(lambda: sweep(list(PAPER_STRENGTHS)))
    t_loop = best_time(lambda: [sweep([c]) for c in PAPER_STRENGTHS], repeat=1)
    batched = sweep(list(PAPER_STRENGTHS))
    looped = [sweep([c]) for c in PAPER_STRENGTHS]
    same = all(
        batched[batched.coef == c].sort_values("item")["continuation"].tolist()
        == df.sort_values("item")["continuation"].tolist()
        for c, df in zip(PAPER_STRENGTHS, looped)
    )
    print(f"machine: {torch.get_num_threads()} CPU threads, torch {torch.__version__}")
    print(f"[1] {len(prompts)} items, layer {layer}, 3 new tokens, greedy")
    print(f"    one strength: {t_one:.2f} s; 7 strengths in one batch: {t_all:.2f} s "
          f"-> ratio {t_all / t_one:.2f}x (target <= 3x)")
    print(f"[2] 7 strengths as 7 separate calls: {t_loop:.2f} s -> batching is "
          f"{t_loop / t_all:.2f}x faster; identical generations: {same}")


if __name__ == "__main__":
    main()
