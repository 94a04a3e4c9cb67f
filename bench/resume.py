"""Resume-from-layer benchmark on the default model; every ratio below is measured in this run.

A 6-layer x 8-coefficient grid of next-token interventions (ActAdd "Good" - "Bad", added at the
last prompt position) on 8 prompts, computed three ways:

1. `hubcore.steering.resume.resume_grid`: the residual stream captured once at the 6 layers, then per
   layer one batch of all 8 coefficients that skips blocks 1..l (nnterp layer skipping);
2. full forwards batched the same way (one `steering.forward_with` of 8 coefficients x 8 prompts
   per layer, every block run);
3. full forwards one grid cell at a time (48 `forward_with` calls).

It prints the times, the ratios and the largest difference between the paths (log-probs of 512
fixed tokens plus the argmax token), which should be float noise.

Run: python bench/resume.py
"""

from __future__ import annotations


from common import best_time

import torch

PROMPTS = [
    "The weather today is", "I think this movie is", "Mi opinión sobre el libro es que es",
    "这家餐厅的菜", "The new phone from that company is", "Le service dans cet hôtel était",
    "My neighbour's dog is", "Die Aufführung gestern Abend war",
]
LAYERS = [1, 4, 7, 10, 13, 16]
COEFS = [0.0, 1.0, 2.0, 4.0, 6.0, 8.0, 12.0, 16.0]


def main() -> None:
    from hubcore import models
    from hubcore.steering.resume import full_forward_grid, resume_grid
    from hubcore.steering import hidden_difference

    torch.set_grad_enabled(False)
    model = models.get_model(models.ModelSpec())
    vec = hidden_difference(model, ["Good"], ["Bad"], layer=6)[0]
    ids = torch.randperm(model.card.vocab, generator=torch.Generator().manual_seed(0))[:512]

    def reduce(logits: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.log_softmax(logits, -1)[:, ids], logits.argmax(-1, keepdim=True).float()], -1)

    args = (model, PROMPTS, vec, LAYERS, COEFS)
    results: dict[str, torch.Tensor] = {}

    def timed(name, fn):
        def go():
            results[name] = fn()
        return best_time(go, repeat=2)

    resume_grid(*args, reduce=reduce)  # warm-up
    t_resume = timed("resume", lambda: resume_grid(*args, reduce=reduce))
    t_batched = timed("batched", lambda: full_forward_grid(*args, reduce=reduce))
    t_cells = best_time(lambda: results.__setitem__("cells", full_forward_grid(*args, reduce=reduce, per_cell=True)), repeat=1)

    r, b, c = results["resume"], results["batched"], results["cells"]
    lp = slice(0, -1)
    diff_b = (r[..., lp] - b[..., lp]).abs().max().item()
    diff_c = (r[..., lp] - c[..., lp]).abs().max().item()
    same_b = bool((r[..., -1] == b[..., -1]).all())
    same_c = bool((r[..., -1] == c[..., -1]).all())
    changed = (r[:, -1, :, -1] != r[:, 0, :, -1]).float().mean().item()
    rows = len(PROMPTS) * len(COEFS)
    print(f"grid: {len(LAYERS)} layers x {len(COEFS)} coefficients x {len(PROMPTS)} prompts "
          f"({rows} rows per layer), default model, {torch.get_num_threads()} threads")
    print(f"resume from layer        : {t_resume:6.2f} s")
    print(f"full forwards, batched   : {t_batched:6.2f} s   ratio {t_batched / t_resume:.2f}x")
    print(f"full forwards, per cell  : {t_cells:6.2f} s   ratio {t_cells / t_resume:.2f}x")
    print(f"max |log p difference| vs batched {diff_b:.2e}, vs per cell {diff_c:.2e}; "
          f"argmax identical: {same_b} / {same_c}")
    print(f"(coefficient {COEFS[-1]} changes the argmax of {changed:.0%} of prompts at the grid's layers)")


if __name__ == "__main__":
    main()
