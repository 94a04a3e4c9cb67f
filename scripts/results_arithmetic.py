"""Reproduce the Arithmetic page's numbers on a model (default: the embedded Gemma-3-270M).

Usage: python scripts/results_arithmetic.py [--model SPEC] [--out results/arithmetic]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from hubcore.experiments.arithmetic import arithmetic_similarity, numeral_vs_word, plus_one_intervention
    from hubcore.models import ModelSpec, get_model

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="default")
    ap.add_argument("--out", default="results/arithmetic")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = get_model(ModelSpec(source=args.model))

    sim = arithmetic_similarity(model, n=300, seed=1)
    sim.write(out / "similarity.csv")  # + similarity.json: the run's metadata
    print(f"\n### Numeral vs word expressions, {sim.n} held-out expressions (mean cosine)\n")
    for metric in ("raw", "centered"):
        wide = sim.curves[sim.curves.metric == metric].pivot(index="layer", columns="bucket", values="mean")
        print(f"\n{metric}:\n")
        print(wide.round(4).to_markdown())

    lens = numeral_vs_word(model, n=300, seed=1)
    lens.write(out / "lens.csv")
    print(f"\n### Answer as numeral vs as English word at 'a=b+' ({lens.n} prefixes, mean log p)\n")
    print(lens.curves.pivot(index="layer", columns="target", values="mean_logprob").round(2).to_markdown())
    print("\nSurface forms that won:\n")
    print(lens.variants.round(3).to_markdown(index=False))

    for few_shot, max_b in ((True, 9), (False, 9), (True, 98)):
        rep = plus_one_intervention(model, n=40, layers=list(range(1, model.num_layers + 1, 3)),
                                    few_shot=few_shot, max_b=max_b)
        tag = f"fewshot{int(few_shot)}_maxb{max_b}"
        rep.write(out / f"intervention_{tag}.csv")  # + _rates.csv and .json
        print(f"\n### +1 intervention, few-shot={few_shot}, b<={max_b}: unsteered accuracy "
              f"{rep.base_accuracy:.0%} ({rep.n_solved}/{rep.n_items})\n")
        if len(rep.rates):
            corr = rep.rates[rep.rates.outcome == "corrected"].pivot(index="strength", columns="layer", values="rate")
            unch = rep.rates[rep.rates.outcome == "unchanged"].pivot(index="strength", columns="layer", values="rate")
            print("corrected rate (rows: strength, columns: layer):\n")
            print(corr.round(2).to_markdown())
            print("\nunchanged rate:\n")
            print(unch.round(2).to_markdown())
        for note in rep.notes:
            print(note)


if __name__ == "__main__":
    main()
