"""Sweep benchmark: does a strength sweep cost less than one generation per strength?

Measured in one run on the default model, greedy decoding:
1. the arithmetic +1 intervention: 7 strengths (the paper's 0..3 by 0.5) on 20 items as ONE batched
   generation vs a single strength on the same items (target: <= 3x);
2. the same 7 strengths run one generation call each (what batching saves);
3. ActAdd (Steering page): 8 coefficients x 4 Spanish prompts with the paper's sampling settings
   and 32 new tokens, scored, as ONE batched `steer` call vs a single coefficient on the same
   prompts (target: <= 3x); and whether a row of the sweep equals that setting run alone.

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
    actadd(model)


def actadd(model) -> None:
    from hubcore.data.steering_prompts import prompt_set
    from hubcore.experiments.actadd import Generation, preset, steer
    from hubcore.experiments.registry import default_layer

    prompts = prompt_set("es-prefixes", 4, seed=0)
    coefs = [-16.0, -8.0, -4.0, -2.0, 2.0, 4.0, 8.0, 16.0]
    layer = default_layer(model)

    def run(cs):
        return steer(model, prompts, "es", [preset("en")], [layer], cs, seeds=[0], generation=Generation(), n_boot=0)

    run([5.0])  # warm-up
    t_one = best_time(lambda: run([5.0]), repeat=2)
    t_all = best_time(lambda: run(coefs), repeat=2)
    sweep = run(coefs)
    alone = run([coefs[-1]])
    same = (sweep.rows[sweep.rows.coef == coefs[-1]].sort_values("prompt").continuation.tolist()
            == alone.rows.sort_values("prompt").continuation.tolist())
    print(f"[3] ActAdd en Good-Bad at layer {layer}, 4 prompts, 32 new tokens, top-p 0.3, penalty 1")
    print(f"    one coefficient: {t_one:.2f} s; 8 coefficients in one batch: {t_all:.2f} s "
          f"-> ratio {t_all / t_one:.2f}x (target <= 3x); coef {coefs[-1]:g} rows equal a run "
          f"alone: {same}")


if __name__ == "__main__":
    main()
