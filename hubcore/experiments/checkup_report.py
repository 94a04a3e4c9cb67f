"""The checkup's outputs: one self-contained HTML report, a JSON summary and one CSV per table.

The HTML opens offline from a file: its charts are SVG rendered here from Vega-Lite specs
(`vl_convert`, no browser, no network), its style is inline, and a Content-Security-Policy of
`default-src 'none'` forbids the page any request at all. The same Vega-Lite specs (`chart_specs`)
are what the Compare page draws, so the report and the page show the same charts.

Files: `<out>` (HTML), `<out stem>.json` (per model: spec, hub_layer, hub_retrieval,
english_peak_layer, verdicts, seconds, ...) and `<out stem>_<table>.csv` for the summary, checks,
curves and effects tables, each with a `model` column.
"""

from __future__ import annotations

import html
import json
import math
import shlex
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
import pandas as pd

from ..errors import HubError
from .checkup_battery import CHECKS, HUB, RULE, VERDICT_KEYS
from .result import Result, jsonable

if TYPE_CHECKING:
    from ..models.spec import ModelSpec

TABLES = ("summary", "checks", "curves", "effects")
VL_VERSION = "6.4"
SCHEMA = "https://vega.github.io/schema/vega-lite/v6.4.1.json"
WIDTH, HEIGHT = 600, 240
X_TITLES = {"layer": "layer (0 = embeddings, L = last block)", "depth": "depth (layer / L, each model its own layers)",
            "coef": "steering coefficient"}
TITLES = {HUB: "Semantic hub", **{c.key: c.title for c in CHECKS}}


def combined(results: Sequence[Result]) -> dict[str, pd.DataFrame]:
    """The tables of several models' checkups, one `model` column first."""
    out = {}
    for name in TABLES:
        frames = []
        for res in results:
            df = res.tables[name]
            frames.append(df if "model" in df.columns else df.assign(model=res.values["label"]))
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        out[name] = df[["model", *[c for c in df.columns if c != "model"]]] if "model" in df else df
    return out


def reproduce(specs: Sequence["ModelSpec"], budget: str = "fast", checks: Optional[Sequence[str]] = None,
              out: str = "checkup.html") -> str:
    """The one command that regenerates a comparison: `--model` per spec, and `--remote` once for
    all models or once per model (in order) when they run in different places. dtype, device and
    the other model options are the first spec's (the Compare page gives every model the sidebar's)."""
    tokens = ["python", "-m", "hubcore", "checkup"]
    for spec in specs:
        tokens += ["--model", spec.source]
    remotes = [spec.remote for spec in specs]
    if len(set(remotes)) > 1:
        for r in remotes:
            tokens += ["--remote", r]
    elif remotes and remotes[0] != "off":
        tokens += ["--remote", remotes[0]]
    if specs:  # dtype, device, downloads, remote code, module map: the first spec's
        tokens += replace(specs[0], source="default", remote="off").cli_args()
    if budget != "fast":
        tokens += ["--budget", budget]
    if checks:
        tokens += ["--checks", ",".join(checks)]
    return shlex.join(tokens + ["--out", out])


# ------------------------------------------------------------------------------ charts

@dataclass(frozen=True)
class ChartSpec:
    """One chart of the report: which check and measure it draws, its title and Vega-Lite spec."""

    check: str
    measure: str
    title: str
    spec: dict[str, Any]
    caption: str = ""

    @property
    def section(self) -> str:
        """The report section that shows it: Zh–En retrieval@1 is the hub's own chart."""
        return HUB if (self.check, self.measure) == ("similarity_zh_en", "retrieval@1") else self.check


def _domain(df: pd.DataFrame, axis: str) -> Optional[list[float]]:
    """A y range that ignores layer 0 when its values dwarf the rest (lens log-probs at the
    embedding reach -500): values outside are drawn at the edge, the CSV keeps them."""
    if axis != "layer" or not (df["x"] == 0).any():
        return None
    rest = df[df["x"] >= 1]
    vals = pd.concat([rest["value"], rest["ci_low"], rest["ci_high"], rest["baseline"]]).dropna()
    every = pd.concat([df["value"], df["ci_low"], df["ci_high"]]).dropna()
    if vals.empty:
        return None
    lo, hi = float(vals.min()), float(vals.max())
    span = hi - lo or 1.0
    if every.min() >= lo - span / 2 and every.max() <= hi + span / 2:  # layer 0 does not dwarf the rest
        return None
    return [lo - 0.08 * span, hi + 0.08 * span]


def _caption(df: pd.DataFrame, clamped: bool) -> str:
    """What the marks mean, for this chart only."""
    parts = []
    if df["ci_low"].notna().any():
        parts.append("band: 95% CI")
    if df["baseline"].notna().any():
        parts.append("dashed line: the reference the verdict compares with" if df["measure"].iloc[0] != "retrieval@1"
                     else "dashed line: chance (1 / pairs)")
    if clamped:
        parts.append("values beyond the axis (layer 0) are drawn at its edge; the CSV has them all")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "." if parts else ""


def _chart(df: pd.DataFrame, title: str, axis: str, x: str, many: bool) -> dict[str, Any]:
    """Lines (with points) per model and series, a 95% CI band where there is one, and the baseline."""
    multi_series = df["series"].nunique() > 1
    colour_by = "model" if many else "series"
    data = df.assign(key=df["model"] + " · " + df["series"]).replace({np.nan: None})
    colour = {"field": colour_by, "type": "nominal", "title": colour_by, "scale": {"scheme": "tableau10"},
              "legend": {"orient": "bottom", "labelLimit": 420, "columns": 2}}
    xenc = {"field": x, "type": "quantitative", "title": X_TITLES[x if x == "depth" else axis]}
    if x == "layer":
        xenc["axis"] = {"tickMinStep": 1}
    domain = _domain(df, axis)
    yscale: dict[str, Any] = {"zero": False}
    if domain:
        yscale.update(domain=domain, clamp=True)
    y_title = str(df["unit"].iloc[0]) if "unit" in df and df["unit"].iloc[0] else "value"
    line_enc: dict[str, Any] = {
        "x": xenc, "y": {"field": "value", "type": "quantitative", "title": y_title, "scale": yscale},
        "color": colour, "detail": {"field": "key", "type": "nominal"},
        "tooltip": [{"field": "model"}, {"field": "series"}, {"field": x, "type": "quantitative"},
                    {"field": "value", "type": "quantitative", "format": ".3f"},
                    {"field": "ci_low", "type": "quantitative", "format": ".3f"},
                    {"field": "ci_high", "type": "quantitative", "format": ".3f"}],
    }
    if many and multi_series:
        line_enc["strokeDash"] = {"field": "series", "type": "nominal", "title": "series",
                                  "legend": {"orient": "bottom", "labelLimit": 420}}
    # the line first: the legends take their symbols from it (a band's would be a pale square)
    layers: list[dict[str, Any]] = [{"mark": {"type": "line", "point": True, "clip": True}, "encoding": line_enc}]
    if df["ci_low"].notna().any():
        layers.append({"mark": {"type": "area", "opacity": 0.15, "clip": True},
                       "encoding": {"x": xenc, "y": {"field": "ci_low", "type": "quantitative", "scale": yscale},
                                    "y2": {"field": "ci_high"}, "color": colour,
                                    "detail": {"field": "key", "type": "nominal"}}})
    base = df[["model", "baseline"]].dropna().drop_duplicates()
    if not base.empty:
        layers.append({"data": {"values": base.to_dict("records")},
                       "mark": {"type": "rule", "strokeDash": [4, 4], "color": "#666"},
                       "encoding": {"y": {"field": "baseline", "type": "quantitative"}}})
    return {"$schema": SCHEMA, "title": {"text": title, "fontSize": 13, "anchor": "start"},
            "width": WIDTH, "height": HEIGHT, "data": {"values": data.to_dict("records")}, "layer": layers,
            "config": {"font": "DejaVu Sans, Helvetica, Arial, sans-serif"}}


def chart_specs(curves: pd.DataFrame, depth: bool = False) -> list[ChartSpec]:
    """One Vega-Lite chart per (check, measure) of the combined curves table, every model overlaid
    (colour = model, dash = series); `depth` puts layers at l / L so models of different depth line
    up (each model's own layers, nothing interpolated; steering stays on its coefficients)."""
    out = []
    if curves.empty:
        return out
    many = curves["model"].nunique() > 1
    for (key, measure), df in curves.groupby(["check", "measure"], sort=False):
        axis = str(df["axis"].iloc[0])
        x = "depth" if depth and axis == "layer" else ("layer" if axis == "layer" else "coef")
        d = df.assign(**{x: df["depth"] if x == "depth" else df["x"]})
        out.append(ChartSpec(str(key), str(measure), str(measure), _chart(d, str(measure), axis, x, many),
                             _caption(d, _domain(d, axis) is not None)))
    return out


def chart_svg(spec: dict[str, Any]) -> str:
    """The chart as SVG, rendered offline."""
    import vl_convert as vlc

    return vlc.vegalite_to_svg(spec, vl_version=VL_VERSION)


# ------------------------------------------------------------------------------ summary

def _fmt(v: Any, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return str(int(v))
    return f"{float(v):.{digits}f}"


def _with_ci(v: Any, lo: Any, hi: Any, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{float(v):+.{digits}f} [{float(lo):+.{digits}f}, {float(hi):+.{digits}f}]"


def summary_json(results: Sequence[Result], command: str = "") -> dict[str, Any]:
    """What `<out stem>.json` holds: the rule, and per model the summary row and every verdict."""
    models = []
    for res in results:
        v, row = res.values, res.tables["summary"].iloc[0]
        checks = res.tables["checks"]
        models.append({
            "model": v["label"], "spec": res.meta.get("model") or {"cli": row["spec"]},
            "hub_layer": v["hub_layer"], "hub_retrieval": v["hub_retrieval"],
            "english_peak_layer": v["english_peak_layer"], "verdicts": v["verdicts"], "seconds": v["seconds"],
            "lens_check": v["lens_check"], "largest_gap": v["gap"], "steering_shift": v["steering"],
            "checks": {r["check"]: {"verdict": r["verdict"], "sentence": r["sentence"], "status": r["status"],
                                    "seconds": r["seconds"]} for r in checks.to_dict("records")},
            "notes": list(res.notes),
        })
    first = results[0].meta if results else {}
    return jsonable({"report": "model checkup", "budget": results[0].values.get("budget") if results else None,
                     "rule": RULE, "command": command, "models": models,
                     "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "packages": first.get("packages", {})})


# ------------------------------------------------------------------------------ HTML

CSS = """
body{font:14px/1.45 "DejaVu Sans",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1180px;color:#222;padding:0 16px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 6px;border-bottom:1px solid #ddd;padding-bottom:3px}
table{border-collapse:collapse;margin:8px 0 4px;font-size:13px}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}.meta,.claim,figcaption,.small{color:#555;font-size:12.5px}
.badge{display:inline-block;border-radius:9px;padding:0 8px;font-weight:bold;font-size:12px;color:#fff}
.shows{background:#1a7f37}.weak{background:#b7791f}.none{background:#777}
figure{margin:10px 0 14px}pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:12px;white-space:pre-wrap}
ul.verdicts{padding-left:18px;margin:6px 0}ul.verdicts li{margin:2px 0}.rule{background:#f8f8f0;border:1px solid #e6e3c8;padding:8px 12px}
"""


def _badge(verdict: Optional[str]) -> str:
    v = verdict or "none"
    return f'<span class="badge {html.escape(v)}">{html.escape(v)}</span>'


def _unmeasured(res: Result, key: str) -> str:
    """' (not measured)' beside a verdict whose check could not run: a none that is not a null result."""
    checks = res.tables["checks"]
    status = checks.loc[checks["check"] == key, "status"]
    return " <span class=small>(not measured)</span>" if len(status) and status.iloc[0] != "ran" else ""


def _summary_table(results: Sequence[Result]) -> str:
    head = ("Model", "Layers", "Lens check (max |Δ log p| at L)", "Hub layer (centred Zh–En retrieval@1 [95% CI])",
            "English peaks at layer (share)", "Largest matched − non-matching gap [95% CI]",
            "Steering shift [95% CI]", "Wall time")
    rows = []
    for res in results:
        r = res.tables["summary"].iloc[0]
        hub = (f"{int(r['hub_layer'])} ({_fmt(r['hub_retrieval'])} [{_fmt(r['hub_low'])}, {_fmt(r['hub_high'])}])"
               if pd.notna(r["hub_layer"]) else
               f"none (peak {_fmt(r['peak_retrieval'])} at layer {_fmt(r['peak_layer'])}, chance {_fmt(r['chance'], 3)})"
               if pd.notna(r["peak_layer"]) else "–")
        eng = (f"{int(r['english_peak_layer'])} ({_fmt(r['english_peak_share'])})"
               if pd.notna(r["english_peak_layer"]) else "–")
        gap = (f"{_with_ci(r['gap'], r['gap_low'], r['gap_high'], 3)} at layer {int(r['gap_layer'])} "
               f"({TITLES.get(r['gap_check'], r['gap_check'])})" if pd.notna(r["gap"]) else "–")
        steer = (f"{_with_ci(r['steer_shift'], r['steer_low'], r['steer_high'], 3)} at coefficient "
                 f"{float(r['steer_coef']):+g}, layer {int(r['steer_layer'])}" if pd.notna(r["steer_shift"]) else "–")
        lens = f"{r['lens_check']:.1e} {'ok' if r['lens_ok'] else 'FAILED'}"
        cells = (r["model"], str(int(r["layers"])), lens, hub, eng, gap, steer, f"{float(r['seconds']):.0f} s")
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    verdict_head = "".join(f"<th>{html.escape(res.values['label'])}</th>" for res in results)
    vrows = []
    for key in VERDICT_KEYS:
        if not any(key in res.values["verdicts"] for res in results):
            continue
        cells = "".join(f"<td>{_badge(res.values['verdicts'].get(key))}{_unmeasured(res, key)}</td>"
                        for res in results)
        vrows.append(f"<tr><th>{html.escape(TITLES[key])}</th>{cells}</tr>")
    return (f"<table class=summary><tr>{''.join(f'<th>{html.escape(h)}</th>' for h in head)}</tr>{''.join(rows)}</table>"
            f"<table class=verdict-table><tr><th>Verdict</th>{verdict_head}</tr>{''.join(vrows)}</table>")


def _check_sections(results: Sequence[Result], charts: Sequence[ChartSpec]) -> str:
    out = []
    checks = combined(results)["checks"]
    for key in VERDICT_KEYS:
        rows = checks[checks["check"] == key]
        if rows.empty:
            continue
        first = rows.iloc[0]
        items = "".join(f"<li>{_badge(r['verdict'])} <b>{html.escape(r['model'])}</b>: {html.escape(r['sentence'])}"
                        f" <span class=small>({html.escape(str(r['status']))}, {float(r['seconds']):.0f} s)</span></li>"
                        for r in rows.to_dict("records"))
        figs = []
        for c in charts:
            if c.section != key:
                continue
            try:
                svg = chart_svg(c.spec)
            except Exception as exc:  # a chart the renderer cannot draw must not lose the report
                svg = f"<p class=small>Chart not rendered: {html.escape(str(exc))}</p>"
            figs.append(f'<figure class=chart data-check="{html.escape(key)}">{svg}'
                        f"<figcaption>{html.escape(c.caption)}</figcaption></figure>")
        commands = "\n\n".join(f"# {r['model']}\n{r['command']}" for r in rows.to_dict("records") if r["command"])
        out.append(f'<section class=check id="check-{html.escape(key)}"><h2>{html.escape(TITLES[key])}</h2>'
                   f"<p class=claim>Prediction: {html.escape(str(first['claim']))}</p><ul class=verdicts>{items}</ul>"
                   + "".join(figs)
                   + (f"<details><summary>The experiment behind it, as a command</summary><pre>"
                      f"{html.escape(commands)}</pre></details>" if commands else "")
                   + "</section>")
    return "".join(out)


def render_html(results: Sequence[Result], command: str = "", depth: bool = False) -> str:
    """The whole report as one HTML string (no script, no external resource)."""
    tables = combined(results)
    charts = chart_specs(tables["curves"], depth=depth)
    budget = results[0].values.get("budget", "") if results else ""
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    packages = results[0].meta.get("packages", {}) if results else {}
    versions = ", ".join(f"{k} {v}" for k, v in packages.items())
    notes = "".join(f"<li>{html.escape(res.values['label'])}: {html.escape(n)}</li>" for res in results
                    for n in res.notes)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        "<meta name=viewport content=\"width=device-width, initial-scale=1\">"
        f"<title>Model checkup: {html.escape(', '.join(r.values['label'] for r in results))}</title>"
        f"<style>{CSS}</style></head><body>"
        "<h1>Model checkup</h1>"
        f"<p class=meta>Budget <b>{html.escape(str(budget))}</b> · {when} · {html.escape(versions)}</p>"
        "<p>The Semantic Hub paper's experiments (Wu et al., ICLR 2025) on each model, with one verdict rule. "
        "Layers: 0 = embeddings, 1..L = the output of each block.</p>"
        f"<h2 id=summary>Summary</h2>{_summary_table(results)}"
        f"<p class=rule><b>How verdicts are decided</b> (hubcore.verdicts.predicted). {html.escape(RULE)}</p>"
        + (f"<h2>Notes</h2><ul>{notes}</ul>" if notes else "")
        + _check_sections(results, charts)
        + (f"<h2 id=reproduce>Reproduce this report</h2><pre>{html.escape(command)}</pre>" if command else "")
        + "<p class=small>Beside this file: &lt;name&gt;.json (the summary) and &lt;name&gt;_summary.csv, _checks.csv, "
          "_curves.csv, _effects.csv (every number drawn here).</p></body></html>"
    )


def _write_text(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise HubError(f"Could not write '{path}': {exc.strerror or exc}.") from exc


def write_report(results: Sequence[Result], out: str | Path) -> list[tuple[Path, Optional[int]]]:
    """Write the CSVs and the JSON first (the numbers), then the HTML; (path, rows) per file
    (rows None for the JSON and the HTML)."""
    out = Path(out)
    command = next((r.meta.get("command") for r in results if r.meta.get("command")), "")
    written: list[tuple[Path, Optional[int]]] = []
    for name, df in combined(results).items():
        path = out.with_name(f"{out.stem}_{name}.csv")
        try:
            df.to_csv(path, index=False, lineterminator="\r\n")  # CRLF rows, like every CSV of the app
        except OSError as exc:
            raise HubError(f"Could not write '{path}': {exc.strerror or exc}.") from exc
        written.append((path, int(len(df))))
    meta = out.with_suffix(".json")
    _write_text(meta, json.dumps(summary_json(results, command), indent=2, ensure_ascii=False) + "\n")
    written.append((meta, None))
    _write_text(out, render_html(results, command))
    written.append((out, None))
    return written
