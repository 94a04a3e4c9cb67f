"""Model checkup (issue 15): a fixed battery of the paper's experiments on one model, each
judged by one rule, in one table.

`python -m hubcore checkup --model A [--model B ...] [--budget fast|full] --out report.html` runs
`checkup` once per model (the CLI loads each in turn) and writes one self-contained HTML report
beside a JSON summary and one CSV per table (`checkup_report.write_report`); the Compare page
runs the same function per model and overlays the curves.

The battery (`checkup_battery.CHECKS`) runs registered experiments through the registry with small
CLI-level values. Each check's effect curve is judged by `hubcore.verdicts.predicted` (shows /
weak / none from the 95% CIs, in the direction the paper predicts) over the intermediate layers
1..L-1: layer 0 is the embedding, before any context is mixed in, and at layer L the lens is the
model's own output, which the hub hypothesis expects back in the input language. The hub is the
layer where centred Zh-En retrieval@1 peaks, reported only when retrieval beats chance by that
rule ('shows') and the peak lies in those layers; otherwise there is none (null).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Optional, Sequence

import pandas as pd

from ..errors import Cancelled, HubError, InputError
from ..progress import Progress, report, scaled
from ..verdicts import NONE, SHOWS, predicted
from .checkup_battery import (BUDGETS, CHECK_KEYS, CHECKS, CURVE_COLUMNS, EFFECT_COLUMNS, HUB, HUB_MARGIN, RULE,
                              Check, Reading, retrieval_effect)
from .checkup_report import write_report
from .registry import Param, experiment, find, reproduce_command
from .result import Result, Table, result

if TYPE_CHECKING:
    from ..models.handle import Handle

SUMMARY_COLUMNS = (
    "model", "spec", "layers", "lens_check", "lens_ok", "hub_layer", "hub_retrieval", "hub_low", "hub_high",
    "peak_layer", "peak_retrieval", "chance", "english_peak_layer", "english_peak_share", "gap_check",
    "gap_layer", "gap", "gap_low", "gap_high", "steer_pair", "steer_layer", "steer_coef", "steer_shift",
    "steer_low", "steer_high", "seconds", *(f"verdict_{k}" for k in (HUB, *CHECK_KEYS)),
)
CHECK_COLUMNS = ("check", "title", "experiment", "verdict", "sentence", "status", "seconds", "claim", "command")
LENS_TOLERANCE = {"float32": 1e-3}  # max |lens(L) - logits| in log-prob units; 0.1 for half precision
SUMMARY_TABLE = Table("summary", SUMMARY_COLUMNS, "one row per model: hub, English peak, largest gap, "
                      "steering shift, wall time and a verdict per experiment")
CHECKS_TABLE = Table("checks", CHECK_COLUMNS, "one row per check: verdict, its sentence, status, seconds "
                     "and the command of the underlying experiment")
CURVES_TABLE = Table("curves", ("layers", "depth", *CURVE_COLUMNS),
                     "every curve the report draws (x = layer or steering coefficient; depth = layer / L)")
EFFECTS_TABLE = Table("effects", ("layers", "depth", *EFFECT_COLUMNS, "in_window"),
                      "the effect curve each verdict reads, with its baseline")


def _checkup_kwargs(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    budget = values.get("budget") or "fast"
    if budget not in BUDGETS:
        raise InputError(f"The budget must be one of {', '.join(BUDGETS)}, not '{budget}'.")
    checks = values.get("checks")
    return {"budget": budget, "checks": tuple(checks) if checks else None}, []


def _checkup_report(res: Result) -> list[str]:
    """The CLI's summary lines for one model."""
    hub = (f"hub at layer {res.hub_layer} (centred Zh–En retrieval@1 {res.hub_retrieval:.2f})"
           if res.hub_layer is not None else "no hub")
    verdicts = ", ".join(f"{k} {v}" for k, v in res.verdicts.items())
    return [f"{res.label}: {hub}; English peaks at layer {res.english_peak_layer}; {res.seconds:.0f} s",
            f"verdicts: {verdicts}"]


@experiment(
    name="checkup",
    summary="the paper's effects on a model at a glance, with one verdict rule",
    description="Runs a fixed battery of registered experiments (lens check; logit lens on the paper's "
                "examples; translation similarity Zh-En and Es-En; language of the lens reading; English "
                "anchoring; arithmetic buckets; code lists; a small ActAdd sweep) on each --model (repeat "
                "the option to compare models) and writes ONE self-contained HTML report to --out, with "
                "<out stem>.json (the summary per model) and <out stem>_<table>.csv beside it. "
                "Verdicts: " + RULE,
    page="compare",
    tables=(SUMMARY_TABLE, CHECKS_TABLE, CURVES_TABLE, EFFECTS_TABLE),
    params=(Param("budget", "fast (a few minutes on a laptop CPU) or full (larger samples, tighter CIs)",
                  choices=BUDGETS),
            Param("checks", "run only these checks, comma-separated: " + ", ".join(CHECK_KEYS), many="comma",
                  choices=CHECK_KEYS, metavar="CHECK,CHECK")),
    prepare=_checkup_kwargs,
    report=_checkup_report,
    many_models=True,
    out_suffix=".html",
    write=write_report,
)
def checkup(model: "Handle", budget: str = "fast", checks: Optional[Sequence[str]] = None,
            progress: Optional[Progress] = None) -> Result:
    """The battery on `model` (all checks, or the `checks` named): tables summary, checks, curves,
    effects; values verdicts ({check: verdict}, the hub included), hub_layer (None when there is
    no hub), hub_retrieval, english_peak_layer, seconds, lens_check, gap, steering, label, budget.

    A check that cannot run on this model (e.g. no usable position for a small vocabulary) is
    recorded with its reason and the verdict none; the other checks still run.
    """
    if budget not in BUDGETS:
        raise InputError(f"The budget must be one of {', '.join(BUDGETS)}, not '{budget}'.")
    unknown = [k for k in checks or () if k not in CHECK_KEYS]
    if unknown:
        raise InputError(f"Unknown check '{unknown[0]}': choose from {', '.join(CHECK_KEYS)}.")
    selected = [c for c in CHECKS if checks is None or c.key in checks]
    start = time.perf_counter()
    total = sum(c.weight for c in selected) or 1.0
    done = 0.0
    readings: dict[str, Optional[Reading]] = {}
    rows: list[dict[str, Any]] = []
    for i, chk in enumerate(selected):
        lo, hi = done / total, (done + chk.weight) / total
        step = scaled(progress, lo, hi)
        report(step, 0.0, f"[{i + 1}/{len(selected)}] {chk.title}")
        t0 = time.perf_counter()
        reading, status, commands = _run(chk, model, budget, step, f"[{i + 1}/{len(selected)}] {chk.title}")
        readings[chk.key] = reading
        rows.append({"check": chk.key, "title": chk.title, "experiment": chk.experiment, "status": status,
                     "seconds": round(time.perf_counter() - t0, 1), "claim": chk.claim,
                     "command": "\n".join(commands)})
        done += chk.weight
    report(progress, 1.0, "Judging the effects")
    return _assemble(model, budget, selected, readings, rows, time.perf_counter() - start)


def _run(chk: Check, model: "Handle", budget: str, progress: Optional[Progress],
         label: str) -> tuple[Optional[Reading], str, list[str]]:
    """Run one check's experiment(s) through the registry and read the results."""
    exp = find(chk.experiment)
    runs = chk.runs(budget)
    commands, results = [], []
    try:
        for j, values in enumerate(runs):
            full = {**exp.defaults(), **values}
            commands.append(reproduce_command(exp, full, model.spec, out=f"checkup_{chk.key}.csv"))
            kwargs, _ = exp.call_kwargs(full)
            sub = scaled(progress, j / len(runs), (j + 1) / len(runs))
            results.append(exp.func(model, progress=(lambda f, m: sub(f, f"{label}: {m}")) if sub else None,
                                    **kwargs))
        return chk.read(results, model), "ran", commands
    except Cancelled:
        raise
    except HubError as exc:  # this model cannot run this check: say why, keep the others
        return None, f"could not run: {exc}", commands
    except Exception as exc:  # an architecture-specific failure (e.g. texts longer than its positions)
        return None, f"failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", commands


def _window(xs: pd.Series, axis: str, first: int, layers: int) -> pd.Series:
    """Which points the verdict reads: intermediate layers first..L-1, or every coefficient."""
    if axis != "layer":
        return pd.Series(True, index=xs.index)
    return (xs >= first) & (xs <= layers - 1)


def _judge(effect: pd.DataFrame, window: pd.Series, a: str, b: str, unit: str, margin: float,
           units: str = "") -> tuple[str, str]:
    """The verdict (`hubcore.verdicts.predicted`) and its sentence for the judged points."""
    e = effect[window.to_numpy()]
    if e.empty:
        return NONE, f"No {unit} to judge."
    b = f"{b} by more than {margin:g}{units}" if margin else b
    v = predicted(list(e["x"]), e["ci_low"], e["ci_high"], e["baseline"].to_numpy(), +1, a, b, unit, margin)
    return v.status, v.sentence


def _assemble(model: "Handle", budget: str, selected: Sequence[Check], readings: dict[str, Optional[Reading]],
              rows: list[dict[str, Any]], seconds: float) -> Result:
    """Verdicts, the summary row and the long tables of one model's checkup."""
    L = int(model.num_layers)
    curves, effects, verdicts, facts = [], [], {}, {}
    hub_row: Optional[dict[str, Any]] = None
    for chk, row in zip(selected, rows):
        reading = readings[chk.key]
        if reading is None:
            row.update(verdict=NONE, sentence=f"Not measured on this model ({row['status']}).")
        else:
            win = _window(reading.effect["x"], chk.axis, chk.first, L)
            row["verdict"], row["sentence"] = _judge(reading.effect, win, reading.a, reading.b,
                                                     "layer" if chk.axis == "layer" else "coefficient", chk.margin,
                                                     chk.units)
            curves.append(reading.curves.assign(check=chk.key, axis=chk.axis))
            effects.append(reading.effect.assign(check=chk.key, axis=chk.axis, in_window=win.to_numpy()))
            facts[chk.key] = reading.facts
        verdicts[chk.key] = row["verdict"]
        if chk.key == "similarity_zh_en":
            hub_row = _hub(chk, reading, row, L, effects)
    if hub_row is not None:
        rows.insert(0, hub_row)
        verdicts = {HUB: hub_row["verdict"], **verdicts}
    checks = pd.DataFrame(rows, columns=list(CHECK_COLUMNS))
    curves_df = _with_depth(pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=CURVE_COLUMNS), L)
    effects_df = _with_depth(pd.concat(effects, ignore_index=True) if effects else
                             pd.DataFrame(columns=[*EFFECT_COLUMNS, "in_window"]), L)
    summary, values = _summary(model, verdicts, facts, hub_row, seconds, L)
    values.update(budget=budget)
    notes = [f"{r['title']}: {r['status']}" for r in rows if r["status"] != "ran"]
    return result("checkup", {"summary": summary, "checks": checks, "curves": curves_df, "effects": effects_df},
                  notes, **values)


def _hub(chk: Check, reading: Optional[Reading], row: dict[str, Any], L: int,
         effects: list[pd.DataFrame]) -> dict[str, Any]:
    """The hub's own verdict row: centred Zh-En retrieval@1 against chance (Wilson CIs)."""
    out = {"check": HUB, "title": "Semantic hub (centred Zh–En retrieval@1 vs chance)",
           "experiment": chk.experiment, "status": row["status"], "seconds": 0.0, "command": row["command"],
           "claim": "Translations find each other best at an intermediate layer, well above chance."}
    if reading is None:
        return {**out, "verdict": NONE, "sentence": row["sentence"], "layer": None}
    eff = retrieval_effect(reading)
    win = _window(eff["x"], "layer", chk.first, L)
    out["verdict"], out["sentence"] = _judge(eff, win, "centred retrieval@1", "chance or its value after the "
                                             "first block", "layer", HUB_MARGIN)
    effects.append(eff.assign(check=HUB, axis="layer", in_window=win.to_numpy()))
    peak = eff.loc[eff["estimate"].idxmax()]
    out["peak"] = peak
    out["layer"] = int(peak["x"]) if out["verdict"] == SHOWS and 1 <= peak["x"] <= L - 1 else None
    if out["verdict"] == SHOWS and out["layer"] is None:
        out["verdict"] = NONE
        out["sentence"] = (f"Retrieval@1 peaks at layer {int(peak['x'])}, not an intermediate layer: no hub. "
                           + out["sentence"])
    return out


def _with_depth(df: pd.DataFrame, L: int) -> pd.DataFrame:
    """Each model's own layers at l / L (nothing interpolated); no depth for coefficients."""
    df = df.copy()
    df.insert(0, "layers", L)
    df.insert(1, "depth", [x / L if a == "layer" else float("nan") for a, x in zip(df["axis"], df["x"])])
    return df


def model_label(model: "Handle") -> str:
    """The model's name in tables and legends: its label, plus where it runs when not here."""
    spec = model.spec
    return spec.label if spec.remote == "off" else f"{spec.label} ({spec.remote})"


def _summary(model: "Handle", verdicts: dict[str, str], facts: dict[str, dict[str, Any]],
             hub: Optional[dict[str, Any]], seconds: float, L: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    card = model.card
    tol = LENS_TOLERANCE.get(str(card.dtype).replace("torch.", ""), 0.1)
    lens_ok = bool(card.lens_check == card.lens_check and card.lens_check < tol)
    peak = hub.get("peak") if hub else None
    hub_layer = hub.get("layer") if hub else None
    langs = facts.get("languages_zh", {})
    gaps = [(k, f["gap"]) for k, f in facts.items() if "gap" in f]
    gap_key, gap = max(gaps, key=lambda kv: kv[1]["value"]) if gaps else (None, None)
    steer = facts.get("actadd", {}).get("steering")
    row = {
        "model": model_label(model), "spec": " ".join(model.spec.cli_args()) or "default", "layers": L,
        "lens_check": float(card.lens_check), "lens_ok": lens_ok, "hub_layer": hub_layer,
        "hub_retrieval": float(peak["estimate"]) if hub_layer is not None else None,
        "hub_low": float(peak["ci_low"]) if hub_layer is not None else None,
        "hub_high": float(peak["ci_high"]) if hub_layer is not None else None,
        "peak_layer": int(peak["x"]) if peak is not None else None,
        "peak_retrieval": float(peak["estimate"]) if peak is not None else None,
        "chance": facts.get("similarity_zh_en", {}).get("chance"),
        "english_peak_layer": langs.get("english_peak_layer"), "english_peak_share": langs.get("english_peak_share"),
        "gap_check": gap_key, "gap_layer": gap and gap["layer"], "gap": gap and gap["value"],
        "gap_low": gap and gap["ci_low"], "gap_high": gap and gap["ci_high"],
        "steer_pair": steer and steer["pair"], "steer_layer": steer and steer["layer"],
        "steer_coef": steer and steer["coef"], "steer_shift": steer and steer["shift"],
        "steer_low": steer and steer["ci_low"], "steer_high": steer and steer["ci_high"],
        "seconds": round(seconds, 1), **{f"verdict_{k}": verdicts.get(k) for k in (HUB, *CHECK_KEYS)},
    }
    values = {"label": row["model"], "verdicts": verdicts, "hub_layer": hub_layer,
              "hub_retrieval": row["hub_retrieval"], "english_peak_layer": row["english_peak_layer"],
              "seconds": row["seconds"], "lens_check": {"max_abs_diff": row["lens_check"], "ok": lens_ok},
              "gap": {"check": gap_key, **gap} if gap else None,
              "steering": {k: v for k, v in steer.items() if k != "intended"} if steer else None}
    return pd.DataFrame([row], columns=list(SUMMARY_COLUMNS)), values
