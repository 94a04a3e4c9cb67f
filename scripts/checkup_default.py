"""Regenerate the default model's checkup report (docs/checkup/) and check it against docs/RESULTS.md.

Runs `python -m hubcore checkup --budget fast --out docs/checkup/default.html` (the shipped report,
its .json summary and CSVs; `--budget full` for larger samples, several times slower) and prints,
per experiment and layer, whether the report's numbers agree with the ones in docs/RESULTS.md (and
docs/results/steering_es.csv) within their 95% CIs. The samples differ (RESULTS.md used held-out
halves and other seeds), so "agree" means the two intervals overlap; where RESULTS.md prints no
interval, it is taken as wide as the report's, scaled by the square root of the two sample sizes
(Wilson intervals for retrieval@1).

Usage: python scripts/checkup_default.py [--budget fast|full] [--out docs/checkup/default.html]
       python scripts/checkup_default.py --check-only   (compare the shipped files, run nothing)
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REPORT = ROOT / "docs" / "checkup" / "default.html"
RESULTS = ROOT / "docs" / "RESULTS.md"
STEERING = ROOT / "docs" / "results" / "steering_es.csv"
COLUMNS = ["what", "layer", "report", "report_low", "report_high", "results", "results_low", "results_high",
           "agree"]


def md_table(text: str, heading: str, after: str = "") -> pd.DataFrame:
    """The first Markdown table after the line starting with `heading` (and then `after`)."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(heading))
    if after:
        start = next(i for i in range(start, len(lines)) if lines[i].startswith(after))
    first = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("|"))
    rows = []
    for ln in lines[first:]:
        if not ln.startswith("|"):
            break
        rows.append([c.strip() for c in ln.strip().strip("|").split("|")])
    return pd.DataFrame(rows[2:], columns=rows[0])


def _curve(curves: pd.DataFrame, check: str, measure: str, series: str) -> pd.DataFrame:
    c = curves[(curves["check"] == check) & (curves["measure"].str.startswith(measure)) & (curves["series"] == series)]
    return c.set_index("x")[["value", "ci_low", "ci_high"]]


def _scaled(report: pd.DataFrame, layer: int, value: float, ratio: float) -> tuple[float, float]:
    """An interval for a RESULTS.md number that has none: the report's half-widths x sqrt(n ratio)."""
    r = report.loc[layer]
    return value - (r["value"] - r["ci_low"]) * ratio, value + (r["ci_high"] - r["value"]) * ratio


def _wilson(p: float, n: int) -> tuple[float, float]:
    from hubcore.stats import wilson_interval

    lo, hi = wilson_interval(round(p * n), n)
    return float(lo), float(hi)


def _rows(what: str, report: pd.DataFrame, theirs: dict[int, tuple[float, float, float]]) -> list[dict]:
    out = []
    for layer, (v, lo, hi) in theirs.items():
        if layer not in report.index:
            continue
        r = report.loc[layer]
        agree = r["ci_low"] <= hi + 1e-9 and lo <= r["ci_high"] + 1e-9
        out.append(dict(zip(COLUMNS, (what, layer, r["value"], r["ci_low"], r["ci_high"], v, lo, hi, bool(agree)))))
    return out


def agreement(report: Path = REPORT, results: Path = RESULTS, steering: Path = STEERING) -> pd.DataFrame:
    """Every comparable number of the report next to RESULTS.md's, and whether their CIs overlap."""
    import json

    curves = pd.read_csv(report.with_name(f"{report.stem}_curves.csv"))
    curves = curves[curves["model"] == curves["model"].iloc[0]]
    meta = json.loads(report.with_suffix(".json").read_text(encoding="utf-8"))
    text = results.read_text(encoding="utf-8")
    n_report = {"zh-en": 300 if meta["budget"] == "full" else 100, "es-en": 300 if meta["budget"] == "full" else 100}
    rows: list[dict] = []
    for pair, check, n_theirs in (("zh-en", "similarity_zh_en", 300), ("es-en", "similarity_es_en", 180)):
        t = md_table(text, f"### Similarity {pair}").astype(float).set_index("layer")
        t.index = t.index.astype(int)
        adj = _curve(curves, check, "matched − non-matching", "centered")
        ratio = math.sqrt(n_report[pair] / n_theirs)
        rows += _rows(f"similarity {pair}: centred matched − non-matching", adj,
                      {l: (v, *_scaled(adj, l, v, ratio)) for l, v in t["('adjusted', 'centered')"].items()})
        ret = _curve(curves, check, "retrieval@1", "centered")
        rows += _rows(f"similarity {pair}: centred retrieval@1", ret,
                      {l: (v, *_wilson(v, n_theirs)) for l, v in t["('retrieval_at_1', 'centered')"].items()})
    t = md_table(text, "### Language probability, zh texts").astype(float).set_index("layer")
    en = _curve(curves, "languages_zh", "share of the lens reading", "en")
    ratio = math.sqrt((60 if meta["budget"] == "full" else 12) / 30)
    rows += _rows("languages zh: English share", en,
                  {int(l): (v, *_scaled(en, int(l), v, ratio)) for l, v in t["en"].items()})
    t = md_table(text, "### Anchoring zh").astype(float)
    anc = _curve(curves, "anchoring_zh", "log p(English translation)", "log p(English translation) − log p(next token)")
    rows += _rows("anchoring zh: log p(English) − log p(next)", anc,
                  {int(r.layer): (r.mean_diff, r.ci_low, r.ci_high) for r in t.itertuples()})
    t = md_table(text, "### Numeral vs word expressions", after="centered:").astype(float).set_index("layer")
    ari = _curve(curves, "arithmetic", "exact translation minus the rest", "exact − rest")
    rows += _rows("arithmetic: exact − rest (centred)", ari,
                  {int(l): (v, *_scaled(ari, int(l), v, 1.0)) for l, v in t["exact_minus_rest"].items()})
    t = md_table(text, "| layer | and | or | not | next |")
    code = _curve(curves, "code_lists", "log p(' and')", "log p(' and') − log p(' or')")
    theirs = {}
    for r in t.itertuples(index=False):
        m = re.match(r"([-+]?[\d.]+) \[([-+]?[\d.]+), ([-+]?[\d.]+)\]", r[-1])
        if m:
            theirs[int(r[0])] = tuple(float(x) for x in m.groups())
    if meta["budget"] == "full":  # the fast budget reads 20 programs, RESULTS.md all 164
        rows += _rows("code lists: log p(' and') − log p(' or')", code, theirs)
    if steering.exists():
        s = pd.read_csv(steering)
        s = s[(s["pair"] == "en: Good − Bad") & (s["coef"] != 0)]
        shift = curves[curves["check"] == "actadd"]
        layer = int(meta["models"][0]["steering_shift"]["layer"]) if meta["models"][0].get("steering_shift") else 9
        shift = shift.set_index("x")[["value", "ci_low", "ci_high"]]
        s = s[s["layer"] == layer]
        rows += _rows(f"ActAdd en Good − Bad, layer {layer}: sentiment shift (x = coefficient)", shift,
                      {float(r.coef): (r.shift, *_scaled(shift, float(r.coef), r.shift, 1.0))
                       for r in s.itertuples() if float(r.coef) in shift.index})
    return pd.DataFrame(rows, columns=COLUMNS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", default="fast", choices=("fast", "full"))
    ap.add_argument("--out", default=str(REPORT.relative_to(ROOT)))
    ap.add_argument("--check-only", action="store_true", help="compare the shipped files; run nothing")
    args = ap.parse_args()
    out = ROOT / args.out
    if not args.check_only:
        from hubcore.cli import main as cli

        out.parent.mkdir(parents=True, exist_ok=True)
        code = cli(["checkup", "--budget", args.budget, "--out", str(out.relative_to(ROOT))])
        if code:
            sys.exit(code)
    table = agreement(out)
    print("\nAgreement with docs/RESULTS.md (95% CIs overlap):")
    for what, g in table.groupby("what", sort=False):
        bad = g[~g["agree"]]
        where = ", ".join(f"{x:g} ({r:+.3f} vs {v:+.3f})" for x, r, v in zip(bad["layer"], bad["report"], bad["results"]))
        print(f"- {what}: {g['agree'].sum()}/{len(g)} agree" + (f"; not at {where}" if len(bad) else ""))
    print(f"overall: {table['agree'].sum()}/{len(table)}")


if __name__ == "__main__":
    main()
