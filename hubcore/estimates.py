"""How long will a run take on this machine? Measured, not guessed.

After every run the dashboard records (units of work, seconds) for the experiment and model in
the cache directory (`run-costs.json`); before the next run of that experiment it predicts the
time from those measurements, and warns when the prediction exceeds `WARN_SECONDS`. A unit of
work is read off the call's own parameters (`work_units`): characters of a text, number of items,
length of a sweep. One earlier run predicts proportionally; several runs of different sizes fit
seconds = fixed + per-unit (least squares, both at least 0), so a fixed overhead (tokenising,
bootstrap) does not inflate the estimate for small inputs.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

from .cache import cache_root

FILE = "run-costs.json"
WARN_SECONDS = 20.0
KEEP = 20  # measurements kept per (experiment, model)

# what scales a run's cost, by parameter name (the registered functions' own names)
TEXT_PARAMS = ("text", "code")  # characters
COUNT_PARAMS = ("n", "max_programs")  # items
SEQUENCE_PARAMS = ("texts", "pairs", "prompts", "programs", "expressions", "examples", "audio",
                   "items", "colours", "layers", "strengths", "coefs", "seeds")  # their length

_lock = threading.Lock()


@dataclass(frozen=True)
class Estimate:
    """A predicted duration and what it rests on."""

    seconds: float
    runs: int  # measurements behind it
    units: float

    def sentence(self) -> str:
        from .progress import format_duration

        return (f"about {format_duration(self.seconds)} on this machine (from {self.runs} earlier "
                f"run{'s' if self.runs != 1 else ''} of this experiment)")


def work_units(params: Mapping[str, Any]) -> float:
    """The size of a run: product of its text lengths, item counts and sweep lengths (>= 1)."""
    units = 1.0
    sequences = {k: v for k, v in params.items() if k in SEQUENCE_PARAMS and isinstance(v, (list, tuple))}
    for name, value in params.items():
        if name in TEXT_PARAMS and isinstance(value, str):
            units *= max(len(value), 1)
        elif name in COUNT_PARAMS and isinstance(value, int) and not isinstance(value, bool):
            # a count caps a sequence given alongside it (max_programs over programs)
            if not (name == "max_programs" and "programs" in sequences):
                units *= max(value, 1)
        elif name in sequences:
            units *= max(len(value), 1)
    return units


def spec_identity(spec: Any) -> str:
    """A stable text for whatever identifies a model (a ModelSpec or another spec dataclass):
    its fields, never a secret (specs hold none; the NDIF key lives in a context variable)."""
    if is_dataclass(spec) and not isinstance(spec, type):
        return "|".join(f"{f.name}={getattr(spec, f.name)!r}" for f in fields(spec))
    return repr(spec)


def _path(root: Optional[Path]) -> Path:
    return (root or cache_root()) / FILE


def _read(path: Path) -> dict[str, list[list[float]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _key(experiment: str, spec: Any) -> str:
    return f"{experiment} @ {spec_identity(spec)}"


def record(experiment: str, spec: Any, params: Mapping[str, Any], seconds: float,
           root: Optional[Path] = None) -> None:
    """Remember that this run took `seconds` (written atomically: a temporary file renamed)."""
    path = _path(root)
    with _lock:
        data = _read(path)
        runs = data.setdefault(_key(experiment, spec), [])
        runs.append([work_units(params), float(seconds)])
        del runs[:-KEEP]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".run-costs.", dir=path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
            os.replace(tmp, path)
        except OSError:  # a read-only cache only costs the estimate, never the run
            pass


def predict(experiment: str, spec: Any, params: Mapping[str, Any],
            root: Optional[Path] = None) -> Optional[Estimate]:
    """The predicted seconds for this run from earlier ones here, or None without any."""
    runs = [(float(u), float(s)) for u, s in _read(_path(root)).get(_key(experiment, spec), [])
            if u > 0 and s >= 0]
    if not runs:
        return None
    units = work_units(params)
    return Estimate(seconds=fit(runs)(units), runs=len(runs), units=units)


def fit(runs: list[tuple[float, float]]) -> Any:
    """seconds(units) from measurements: proportional for one size, fixed + per-unit for more."""
    sizes = {u for u, _ in runs}
    if len(sizes) == 1:
        rate = sorted(s / u for u, s in runs)[len(runs) // 2]
        return lambda units: rate * units
    n = len(runs)
    mu = sum(u for u, _ in runs) / n
    ms = sum(s for _, s in runs) / n
    var = sum((u - mu) ** 2 for u, _ in runs)
    slope = max(sum((u - mu) * (s - ms) for u, s in runs) / var, 0.0)
    fixed = max(ms - slope * mu, 0.0)
    return lambda units: fixed + slope * units
