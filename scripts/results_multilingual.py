"""Reproduce the Multilingual page's numbers on a model (default: the embedded Gemma-3-270M).

Writes each run's tables (CSV, with a .json of the run's metadata beside each) to an output folder
and prints compact per-layer tables (markdown) for notes/docs.
Usage: python scripts/results_multilingual.py [--model SPEC] [--out results/multilingual]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from hubcore.data.parallel import asterisk_pairs, hsk_pairs, split_held_out
    from hubcore.experiments.anchoring import anchoring
    from hubcore.experiments.multilingual import TEMPLATES, language_probabilities, translation_similarity
    from hubcore.models import ModelSpec, get_model

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="default")
    ap.add_argument("--out", default="results/multilingual")
    ap.add_argument("--pairs", type=int, default=300)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = get_model(ModelSpec(source=args.model))

    sets = {"zh-en": hsk_pairs(), "es-en": asterisk_pairs("es", "en")}
    for name, pset in sets.items():
        _, held = split_held_out(pset, fraction=0.5, seed=1)
        pairs = random.Random(0).sample(held, min(args.pairs, len(held)))
        rep = translation_similarity(model, pairs, TEMPLATES[pset.lang_a], TEMPLATES[pset.lang_b])
        rep.write(out / f"similarity_{name}.csv")
        wide = rep.curves.pivot(index="layer", columns="metric", values=["adjusted", "retrieval_at_1"])
        print(f"\n### Similarity {name} ({len(pairs)} held-out pairs)\n")
        print(wide.round(3).to_markdown())

    zh = [a for a, _ in random.Random(2).sample(hsk_pairs().pairs, 100)]
    es = [a for a, _ in random.Random(2).sample(asterisk_pairs("es", "en").pairs, 100)]
    for lang, texts in (("zh", zh), ("es", es)):
        arep = anchoring(model, texts, lang)
        arep.write(out / f"anchoring_{lang}.csv")
        print(f"\n### Anchoring {lang} ({len(arep.items)} positions from {len(texts)} texts)\n")
        print(arep.difference.round(2).to_markdown(index=False))
        print(f"English wins at layers: {arep.english_wins or 'none'}; skipped: {dict(arep.skipped)}")

    for lang, texts in (("zh", zh[:30]), ("es", es[:30])):
        lrep = language_probabilities(model, texts, ["en", lang])
        lrep.write(out / f"languages_{lang}.csv")
        print(f"\n### Language probability, {lang} texts ({lrep.n_positions} positions)\n")
        print(lrep.curves.pivot(index="layer", columns="language", values="prob").round(3).to_markdown())


if __name__ == "__main__":
    main()
