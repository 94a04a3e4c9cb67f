"""The one result type every experiment returns, and how it is written to disk.

A `Result` holds named tables (DataFrames whose exported columns are declared by the experiment's
`Table` schema), named values (numbers, token lists: what a page prints beside a chart), notes
(one sentence each: null results, skipped items, fallbacks) and metadata (experiment, parameters,
model spec, package versions, seed, elapsed time, remote traffic). Tables and values read as
attributes (`result.curves`, `result.base_accuracy`), so callers never dig in dicts.

Writing a result puts the main table at `<out>`, every other table at `<out stem>_<table>.csv`
and the metadata at `<out stem>.json`, so any CSV traces back to the run that made it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import pandas as pd

from ..errors import HubError


@dataclass(frozen=True)
class Table:
    """A declared table: its name (file suffix) and the columns written to CSV, in order."""

    name: str
    columns: tuple[str, ...]
    description: str = ""
    open: bool = False  # the frame's further columns follow the declared ones (one per user word)
    optional: tuple[str, ...] = ()  # declared columns a run may lack (`stack` of one kind only)


@dataclass
class Result:
    """Named tables + values + notes + metadata of one experiment run."""

    experiment: str
    tables: dict[str, pd.DataFrame]
    values: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    schema: tuple[Table, ...] = ()

    def __getattr__(self, name: str) -> Any:
        # only called for names that are not fields: tables first, then values
        if name.startswith("__"):
            raise AttributeError(name)
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(f"{type(self).__name__} of '{self.__dict__.get('experiment')}' has no "
                             f"table or value '{name}'")

    @property
    def main_name(self) -> str:
        return self.schema[0].name if self.schema else next(iter(self.tables))

    @property
    def main(self) -> pd.DataFrame:
        """The main table with its declared columns (what `<out>` holds)."""
        return self.csv_frame()

    def declared(self, name: str) -> Optional[Table]:
        return next((t for t in self.schema if t.name == name), None)

    def csv_frame(self, name: Optional[str] = None) -> pd.DataFrame:
        """Table `name` (default: the main one) restricted to its declared columns (an `open`
        table keeps its further columns after them)."""
        name = name or self.main_name
        df = self.tables[name]
        spec = self.declared(name)
        if spec is None:
            return df
        more = [c for c in df.columns if c not in spec.columns] if spec.open else []
        return df[[c for c in spec.columns if c in df.columns or c not in spec.optional] + more]

    def check(self) -> "Result":
        """Every declared table is present and carries its declared columns."""
        for spec in self.schema:
            if spec.name not in self.tables:
                raise ValueError(f"{self.experiment}: table '{spec.name}' is declared but missing")
            missing = [c for c in spec.columns
                       if c not in self.tables[spec.name].columns and c not in spec.optional]
            if missing:
                raise ValueError(f"{self.experiment}: table '{spec.name}' lacks columns {missing}")
        return self

    # ------------------------------------------------------------------ writing
    def file_paths(self, out: Path) -> dict[str, Path]:
        """Where each table goes: the main one at `out`, the others beside it."""
        names = [t.name for t in self.schema] or list(self.tables)
        return {name: (out if i == 0 else out.with_name(f"{out.stem}_{name}{out.suffix or '.csv'}"))
                for i, name in enumerate(names) if name in self.tables}

    def write(self, out: str | Path, extra: Optional[dict[str, Path]] = None) -> list[tuple[Path, Optional[int]]]:
        """Write every table (CSV, CRLF rows so a bare "\\r" in a token stays quoted) and the
        metadata JSON; `extra` maps more table names to paths of the caller's choosing.
        Returns (path, rows) per file written (rows None for the JSON)."""
        out = Path(out)
        written: list[tuple[Path, Optional[int]]] = []
        targets = self.file_paths(out)
        targets.update(extra or {})
        files: dict[str, Any] = {}
        for name, path in targets.items():
            frame = self.csv_frame(name)
            _write_csv(frame, path)
            files[name] = {"file": path.name, "rows": int(len(frame)), "columns": list(frame.columns)}
            written.append((path, int(len(frame))))
        meta_path = out.with_suffix(".json") if out.suffix else out.with_name(out.name + ".json")
        payload = dict(self.meta, tables=files, values=summary(self.values), notes=list(self.notes))
        try:
            meta_path.write_text(json.dumps(jsonable(payload), indent=2, ensure_ascii=False) + "\n",
                                 encoding="utf-8")
        except OSError as exc:
            raise HubError(f"Could not write '{meta_path}': {exc.strerror or exc}.") from exc
        written.append((meta_path, None))
        return written


def summary(values: dict[str, Any], limit: int = 200) -> dict[str, Any]:
    """The values worth keeping beside the tables: scalars and short lists (a long sequence is
    recorded by its length, a table or array by its shape)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        shape = getattr(value, "shape", None)
        if shape is not None and not isinstance(value, (int, float)):
            out[name] = f"<{type(value).__name__} {tuple(shape)}>"
        elif isinstance(value, (list, tuple)) and len(value) > limit:
            out[name] = f"<{len(value)} items>"
        else:
            out[name] = value
    return out


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    try:
        df.to_csv(path, index=False, lineterminator="\r\n")
    except OSError as exc:
        raise HubError(f"Could not write '{path}': {exc.strerror or exc}.") from exc


def jsonable(value: Any) -> Any:
    """`value` as JSON-ready data: tuples/sets as lists, dataclasses as dicts, NaN as null."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return jsonable(asdict(value))
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, (bytes, bytearray)):  # an uploaded file: its size, not its content
        return f"<{len(value)} bytes>"
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        try:
            return jsonable(value.item())
        except (TypeError, ValueError):
            pass
    if isinstance(value, pd.DataFrame):
        return f"<table {len(value)} rows>"
    return str(value)


def result(experiment: str, tables: dict[str, pd.DataFrame], notes: Sequence[str] = (),
           **values: Any) -> Result:
    """Shorthand for experiments: `result("lens", {"topk": df}, input_tokens=..., raw=raw)`."""
    return Result(experiment=experiment, tables=dict(tables), values=dict(values), notes=list(notes))
