"""Regenerate the ActAdd table of docs/RESULTS.md (paper Table 1 on the default model).

Spanish (es-prefixes) and Chinese (zh-reviews) prompts, each steered with the English pair and
with the pair in the text's language, over layers x coefficients, paper sampling settings.
Writes docs/results/steering_<lang>.csv (summary) and prints Markdown tables.

Run: python scripts/results_steering.py [--n 8] [--seeds 2] [--layers 4,9,13]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def table(summary, best_pos, best_neg) -> str:
    lines = ["| pair | layer | coef | sentiment [95% CI] | shift | perplexity | in language |",
             "|---|---|---|---|---|---|---|"]
    for r in summary.itertuples():
        lines.append(f"| {r.pair} | {r.layer} | {r.coef:g} | {r.sentiment:+.3f} [{r.sentiment_low:+.3f}, "
                     f"{r.sentiment_high:+.3f}] | {r.shift:+.3f} | {r.perplexity:.1f} | {r.in_language:.0%} |")
    for word, best in (("positive", best_pos), ("negative", best_neg)):
        if best:
            lines.append(f"\nLargest {word} shift (perplexity within 2x): {best['pair']}, layer "
                         f"{best['layer']}, coef {best['coef']:g}: {best['shift']:+.3f}")
    return "\n".join(lines)


def main() -> None:
    import torch

    from hubcore.data.steering_prompts import prompt_set
    from hubcore.experiments.actadd import Generation, best_setting, preset, steer
    from hubcore.models import ModelSpec, get_model

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--layers", default="4,9,13")
    ap.add_argument("--coefs", default="-16,-8,-4,0,4,8,16")
    ap.add_argument("--langs", default="es,zh")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    model = get_model(ModelSpec())
    out_dir = ROOT / "docs" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    layers = [int(x) for x in args.layers.split(",")]
    coefs = [float(x) for x in args.coefs.split(",")]
    for lang in args.langs.split(","):
        name = {"es": "es-prefixes", "zh": "zh-reviews", "en": "en-prefixes"}[lang]
        pairs = [preset("en")] + ([preset(lang)] if lang != "en" else [])
        start = time.perf_counter()
        rep = steer(model, prompt_set(name, args.n, seed=0), lang, pairs, layers, coefs,
                    seeds=range(args.seeds), generation=Generation(), n_boot=1000)
        took = time.perf_counter() - start
        rep.summary.to_csv(out_dir / f"steering_{lang}.csv", index=False)
        rep.rows.to_csv(out_dir / f"steering_{lang}_rows.csv", index=False)
        print(f"\n### {lang}: {args.n} prompts x {args.seeds} seeds, scorer {rep.scorer}, "
              f"{len(rep.rows)} rows in {took:.0f} s\n")
        print(table(rep.summary, best_setting(rep.summary, 1.0), best_setting(rep.summary, -1.0)))


if __name__ == "__main__":
    main()
