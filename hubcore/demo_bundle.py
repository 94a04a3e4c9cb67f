"""The demo bundle: every page's default results computed ahead of a talk, opened in a blink.

`python -m hubcore demo-bundle` runs each page's default experiments (`page_defaults.page_runs`)
on the embedded default models and stores the Results under the cache directory
(`<cache>/demo-bundle/`). The dashboard's result cache looks there first: a page whose call
matches a bundled one (same experiment, model spec and arguments: never a secret) opens from it
and says so, with one click to recompute live.

Stored as JSON (tables with their dtypes, values with their Python types tagged): no pickle, so a
cache directory can never run code. The bundle is built in a temporary directory and renamed into
place (`cache.write_manifest`): a failed build leaves the previous bundle as it was.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import inspect
import json
import math
import os
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import numpy as np
import pandas as pd

from .cache import cache_root, is_complete, write_manifest
from .estimates import record, spec_identity
from .progress import Progress, report, scaled

NAME = "demo-bundle"
INDEX = "index.json"
FORMAT = 1


# ------------------------------------------------------------------------------- keys

def canonical_call(fn: Callable[..., Any], kwargs: Mapping[str, Any]) -> str:
    """The arguments of a call as JSON, with the function's defaults filled in: a page passing
    `programs=None` and a bundle leaving it out are the same call; lists and tuples are alike."""
    try:
        sig = inspect.signature(fn)
        params = [p for name, p in sig.parameters.items() if name not in ("model", "progress")]
        bound = inspect.Signature(params).bind_partial(**kwargs)
        bound.apply_defaults()
        args = dict(bound.arguments)
    except (TypeError, ValueError):
        args = dict(kwargs)
    return json.dumps(_plain(args), sort_keys=True, ensure_ascii=False)


def _plain(value: Any) -> Any:
    """JSON-ready and order-stable: bytes by their hash (an upload), containers recursively."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return "sha256:" + hashlib.sha256(value).hexdigest()
    if isinstance(value, float) and value == int(value) and abs(value) < 1e15:
        return int(value)
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, float):
        return value
    if hasattr(value, "item") and callable(value.item):
        return _plain(value.item())
    return repr(value)


def bundle_key(experiment: str, spec: Any, fn: Callable[..., Any], kwargs: Mapping[str, Any]) -> str:
    text = json.dumps([experiment, spec_identity(spec), canonical_call(fn, kwargs)], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


# ---------------------------------------------------------------------- result codec

def encode_value(value: Any) -> Any:
    """A value as JSON with its Python type kept (tuple, ndarray, DataFrame, numpy scalar...)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else {"__float__": repr(v)}
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, list):
        return [encode_value(v) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [encode_value(v) for v in value]}
    if isinstance(value, dict):
        return {"__dict__": [[encode_value(k), encode_value(v)] for k, v in value.items()]}
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"array of dtype {value.dtype}")
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, pd.DataFrame):
        return {"__frame__": encode_frame(value)}
    cls = type(value)
    if dataclasses.is_dataclass(value) and cls.__module__.startswith("hubcore."):
        return {"__dataclass__": f"{cls.__module__}:{cls.__qualname__}",
                "fields": {f.name: encode_value(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}}
    raise TypeError(f"a value of type {cls.__name__}")


def decode_value(data: Any) -> Any:
    if isinstance(data, list):
        return [decode_value(v) for v in data]
    if not isinstance(data, dict):
        return data
    if "__float__" in data:
        return float(data["__float__"])
    if "__tuple__" in data:
        return tuple(decode_value(v) for v in data["__tuple__"])
    if "__dict__" in data:
        return {_hashable(decode_value(k)): decode_value(v) for k, v in data["__dict__"]}
    if "__ndarray__" in data:
        return np.asarray(data["__ndarray__"], dtype=data["dtype"]).reshape(data["shape"])
    if "__frame__" in data:
        return decode_frame(data["__frame__"])
    if "__dataclass__" in data:
        return _dataclass(data["__dataclass__"])(**{k: decode_value(v) for k, v in data["fields"].items()})
    raise ValueError(f"unknown tagged value {sorted(data)}")


def _dataclass(name: str) -> Any:
    """A hubcore dataclass by its 'module:Class' name (nothing outside hubcore is ever imported)."""
    module, _, qualname = name.partition(":")
    if not module.startswith("hubcore.") or "." in qualname:
        raise ValueError(f"refusing to rebuild {name!r}")
    cls = getattr(importlib.import_module(module), qualname, None)
    if cls is None or not dataclasses.is_dataclass(cls):
        raise ValueError(f"{name!r} is not a hubcore dataclass")
    return cls


def _hashable(v: Any) -> Any:
    return tuple(_hashable(x) for x in v) if isinstance(v, list) else v


def encode_frame(df: pd.DataFrame) -> dict[str, Any]:
    if not df.index.equals(pd.RangeIndex(len(df))):
        df = df.reset_index(drop=True)
    return {"columns": [str(c) for c in df.columns], "dtypes": [str(t) for t in df.dtypes],
            "data": [[encode_value(v) for v in df[c].tolist()] for c in df.columns]}


def decode_frame(data: Mapping[str, Any]) -> pd.DataFrame:
    cols = {}
    for name, dtype, values in zip(data["columns"], data["dtypes"], data["data"]):
        decoded = [decode_value(v) for v in values]
        if dtype == "object":
            series = pd.Series(decoded, dtype=object)
        else:
            series = pd.Series(decoded).astype(dtype) if decoded else pd.Series([], dtype=dtype)
        cols[name] = series
    return pd.DataFrame(cols, columns=list(data["columns"]))


def encode_result(res: Any) -> dict[str, Any]:
    return {"format": FORMAT, "experiment": res.experiment,
            "tables": {k: encode_frame(v) for k, v in res.tables.items()},
            "values": encode_value(dict(res.values)), "notes": list(res.notes),
            "meta": json.loads(json.dumps(res.meta, default=str))}


def decode_result(data: Mapping[str, Any]) -> Any:
    from .experiments.registry import find
    from .experiments.result import Result

    res = Result(experiment=data["experiment"], tables={k: decode_frame(v) for k, v in data["tables"].items()},
                 values=decode_value(data["values"]), notes=list(data["notes"]), meta=dict(data["meta"]))
    res.schema = find(data["experiment"]).tables
    return res


def same_result(a: Any, b: Any) -> bool:
    """Tables (values and dtypes), values and notes equal: the check before a result is stored."""
    if set(a.tables) != set(b.tables) or list(a.notes) != list(b.notes) or set(a.values) != set(b.values):
        return False
    for name in a.tables:
        try:
            pd.testing.assert_frame_equal(a.tables[name].reset_index(drop=True), b.tables[name],
                                          check_exact=True)
        except AssertionError:
            return False
    return all(_equal(a.values[k], b.values[k]) for k in a.values)


def _equal(x: Any, y: Any) -> bool:
    number = (int, float, np.number)
    if isinstance(x, number) and isinstance(y, number) and not isinstance(x, bool):
        return bool(x == y) or (np.isnan(x) and np.isnan(y))
    if type(x) is not type(y):
        return False
    if isinstance(x, pd.DataFrame):
        return x.reset_index(drop=True).equals(y)
    if isinstance(x, np.ndarray):
        return x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True)
    if isinstance(x, (list, tuple)):
        return len(x) == len(y) and all(_equal(p, q) for p, q in zip(x, y))
    if isinstance(x, dict):
        return set(x) == set(y) and all(_equal(x[k], y[k]) for k in x)
    return bool(x == y)


# ------------------------------------------------------------------------ the bundle

@dataclasses.dataclass(frozen=True)
class Bundled:
    """A result opened from the bundle, and when and how fast it was computed live."""

    result: Any
    computed_at: str
    live_seconds: float


def bundle_dir(root: Optional[Path] = None) -> Path:
    return (root or cache_root()) / NAME


_index_cache: dict[str, tuple[float, dict[str, Any]]] = {}


def _read_index(root: Optional[Path] = None) -> dict[str, Any]:
    """The bundle's index (results and model facts), re-read only when the bundle changed."""
    entry = bundle_dir(root)
    path = entry / INDEX
    try:
        stamp = path.stat().st_mtime
    except OSError:
        return {}
    cached = _index_cache.get(str(path))
    if cached and cached[0] == stamp:
        return cached[1]
    if not is_complete(entry):
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    _index_cache[str(path)] = (stamp, data)
    return data


def _index(root: Optional[Path] = None) -> dict[str, Any]:
    return _read_index(root).get("results", {})


def model_facts(spec: Any, root: Optional[Path] = None) -> Optional[dict[str, Any]]:
    """What the bundle recorded about the model of `spec` (layers and its card), so a page can
    open from the bundle before the model itself has loaded; None when it holds no such model."""
    facts = _read_index(root).get("models", {}).get(spec_identity(spec))
    if not facts:
        return None
    from .models.card import ModelCard

    try:
        card = ModelCard(**facts["card"])
    except (TypeError, KeyError):
        return None
    return {"num_layers": int(facts["num_layers"]), "card": card}


def lookup(experiment: str, spec: Any, fn: Callable[..., Any], kwargs: Mapping[str, Any],
           root: Optional[Path] = None) -> Optional[Bundled]:
    """The bundled result of exactly this call, or None (no bundle, another call, unreadable)."""
    index = _index(root)
    if not index:
        return None
    entry = index.get(bundle_key(experiment, spec, fn, kwargs))
    if entry is None:
        return None
    try:
        data = json.loads((bundle_dir(root) / entry["file"]).read_text(encoding="utf-8"))
        res = decode_result(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Bundled(res, entry["computed_at"], float(entry["seconds"]))


def describe(root: Optional[Path] = None) -> list[dict[str, Any]]:
    """What the bundle holds (experiment, tag, computed_at, seconds), for `demo-bundle --list`."""
    return sorted(_index(root).values(), key=lambda e: (e.get("experiment", ""), e.get("tag", "")))


def build(progress: Optional[Progress] = None, root: Optional[Path] = None,
          only: Optional[set[str]] = None, load: Optional[Callable[[str], Any]] = None) -> list[str]:
    """Compute every page run that has a default model and store it; returns one line per run
    (bundled in how many seconds, or skipped and why). `only`: recompute just these experiments
    and keep the bundle's other results; `load(kind)`: the model for a kind (default: the
    embedded models)."""
    from .errors import HubError
    from .experiments.page_defaults import page_runs

    load = load or _default_model
    runs = [r for r in page_runs() if (only is None or r.experiment in only)]
    root = root or cache_root()
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{NAME}.", dir=root))
    lines: list[str] = []
    index: dict[str, Any] = {}
    models: dict[str, Any] = {}
    try:
        if only is not None:  # keep what is not recomputed
            old = _read_index(root)
            models.update(old.get("models", {}))
            for key, entry in old.get("results", {}).items():
                if entry.get("experiment") not in only:
                    shutil.copyfile(bundle_dir(root) / entry["file"], tmp / entry["file"])
                    index[key] = entry
        for i, run in enumerate(runs):
            exp = run.exp
            label = exp.name + (f" ({run.tag})" if run.tag else "")
            report(progress, i / max(len(runs), 1), f"{label}…")
            if exp.kind == "vision":
                lines.append(f"skipped {label}: needs a vision-language model (none ships with the app)")
                continue
            try:
                model = load(exp.kind)
                kwargs = run.call(model)
                start = time.perf_counter()
                res = exp.func(model, progress=scaled(progress, i / len(runs), (i + 1) / len(runs)), **kwargs)
                seconds = time.perf_counter() - start
            except HubError as exc:
                lines.append(f"skipped {label}: {exc}")
                continue
            record(exp.name, model.spec, kwargs, seconds, root=root)  # the estimates learn from it too
            models[spec_identity(model.spec)] = {"num_layers": int(model.num_layers),
                                                 "card": json.loads(json.dumps(model.card.to_dict(), default=str))}
            try:
                data = encode_result(res)
                if not same_result(res, decode_result(json.loads(json.dumps(data)))):
                    raise TypeError("it does not read back identically")
            except (TypeError, ValueError) as exc:
                lines.append(f"skipped {label}: its result cannot be stored as JSON ({exc})")
                continue
            key = bundle_key(exp.name, model.spec, exp.func, kwargs)
            name = f"{key}.json"
            (tmp / name).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            index[key] = {"file": name, "experiment": exp.name, "tag": run.tag, "page": exp.page,
                          "computed_at": res.meta.get("finished_at", ""), "seconds": round(seconds, 3)}
            lines.append(f"bundled {label} (computed live in {seconds:.1f} s)")
        (tmp / INDEX).write_text(json.dumps({"format": FORMAT, "results": index, "models": models,
                                             "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds")},
                                            indent=1, ensure_ascii=False), encoding="utf-8")
        write_manifest(tmp)
        entry = bundle_dir(root)
        if entry.exists():
            shutil.rmtree(entry, ignore_errors=True)
        os.replace(tmp, entry)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report(progress, 1.0, "Demo bundle ready")
    return lines


def _default_model(kind: str) -> Any:
    from .models import ModelSpec, get_model

    return get_model(ModelSpec(kind=kind))
