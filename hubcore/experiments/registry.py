"""The experiment registry: one declaration per experiment serves the CLI, the pages and
"reproduce this run".

Each experiment declares its name (the CLI command, e.g. "arithmetic intervene"), the page that
shows it, a one-line summary, its parameters (CLI spelling, type, default, range, help) and its
tables (`Table` schemas), and registers its function with `@experiment(...)`. From that come:

- the CLI sub-commands (`hubcore.cli` builds argparse from `Param`s; defaults come from the
  function's own signature, so there is one source of truth),
- `python -m hubcore list`,
- parameter defaults and ranges on the pages,
- `reproduce_command` / `query_string`: the exact command line and page URL of a run, with
  parameters named like the CLI options (`--top-k` <-> `top_k`).

Every registered call returns a `Result` whose metadata is filled here (parameters, model spec,
package versions, seed, elapsed time, remote traffic), whoever calls it.
"""

from __future__ import annotations

import functools
import inspect
import shlex
import sys
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from ..errors import InputError
from .result import Result, Table, jsonable, summary

if TYPE_CHECKING:
    from ..models.handle import Handle
    from ..models.spec import ModelSpec

NO_DEFAULT = object()  # the parameter's default comes from the function signature
# arguments that say how a run is watched, not what it computes: never in a run's metadata
RUNTIME_ARGS = ("model", "progress", "stream")


@dataclass(frozen=True)
class Param:
    """One parameter as the CLI, the pages and URLs name it.

    `name` is the URL query key and argparse dest; the CLI spells it `flag` (default
    `--name-with-dashes`). `arg` is the function parameter it feeds (default: `name`; empty for
    CLI-only options that the experiment's `prepare` consumes). `many`: "" (one value), "comma"
    (`--coefs=-8,0,8`), "nargs" (`--layers 9 12`) or "repeat" (`--prompt a --prompt b`).
    """

    name: str
    help: str = ""
    type: Callable[[str], Any] = str
    default: Any = NO_DEFAULT
    choices: tuple[Any, ...] = ()
    flag: Optional[str] = None
    arg: Optional[str] = None
    many: str = ""
    switch: bool = False
    required: bool = False
    low: Optional[float] = None
    high: Optional[float] = None
    metavar: Optional[str] = None

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def target(self) -> str:
        """The function argument this parameter feeds ('' = CLI-only)."""
        return self.name if self.arg is None else self.arg

    def check(self, value: Any) -> Any:
        """One sentence when a number is outside its declared range."""
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                if self.low is not None and v < self.low or self.high is not None and v > self.high:
                    raise InputError(f"{self.cli_flag.lstrip('-')} must lie in {self.low:g}..{self.high:g}, got {v:g}.")
        return value


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: what the CLI, `list`, the pages and reproduce need."""

    name: str
    func: Callable[..., Any]
    summary: str
    page: str
    tables: tuple[Table, ...]
    params: tuple[Param, ...] = ()
    description: str = ""
    kind: str = "text"
    prepare: Optional[Callable[[dict[str, Any]], tuple[dict[str, Any], list[str]]]] = None
    report: Optional[Callable[[Result], list[str]]] = None
    needs_model: bool = True
    extra_outputs: tuple[str, ...] = ()  # params naming extra files for tables (vision lens --grid)
    # `--model` may be repeated: the CLI runs the function once per model and hands the Results
    # to `write(results, out)` (the checkup's one HTML report); `out_suffix`: --out must end so
    many_models: bool = False
    write: Optional[Callable[[Sequence[Result], Any], list[tuple[Any, Optional[int]]]]] = None
    out_suffix: str = ""

    @property
    def command(self) -> tuple[str, ...]:
        return tuple(self.name.split())

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        """Each parameter's default: declared, else the function's own default."""
        sig = inspect.signature(self.func)
        out: dict[str, Any] = {}
        for p in self.params:
            if p.default is not NO_DEFAULT:
                out[p.name] = p.default
            elif p.target in sig.parameters and sig.parameters[p.target].default is not inspect.Parameter.empty:
                out[p.name] = sig.parameters[p.target].default
            elif p.switch:
                out[p.name] = False
            else:
                out[p.name] = None
        return out

    def call_kwargs(self, values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """CLI-level values -> the function's keyword arguments (+ notes, e.g. a sampled file).

        Parameters missing from `values` take their defaults, as on the command line."""
        values = {**self.defaults(), **{k: v for k, v in values.items()}}
        for p in self.params:
            if values.get(p.name) is not None:
                p.check(values[p.name])
        if self.prepare is not None:
            return self.prepare(dict(values))
        return {p.target: values[p.name] for p in self.params if p.target and p.name in values}, []


REGISTRY: dict[str, Experiment] = {}
GROUPS: dict[str, str] = {}  # command groups ("arithmetic") -> their help line


def group(name: str, help: str) -> None:
    """Describe a command group (the first word of nested experiment names)."""
    GROUPS[name] = help


def experiment(name: str, summary: str, page: str, tables: Sequence[Table], params: Sequence[Param] = (),
               description: str = "", kind: str = "text",
               prepare: Optional[Callable[[dict[str, Any]], tuple[dict[str, Any], list[str]]]] = None,
               report: Optional[Callable[[Result], list[str]]] = None, needs_model: bool = True,
               extra_outputs: Sequence[str] = (), many_models: bool = False,
               write: Optional[Callable[[Sequence[Result], Any], list[tuple[Any, Optional[int]]]]] = None,
               out_suffix: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register an experiment function; its calls return a `Result` with metadata filled in."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            from ..models.remote import TRAFFIC

            before = (TRAFFIC.requests, TRAFFIC.sent, TRAFFIC.received)
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            if not isinstance(out, Result):
                return out
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            model = args[0] if args and needs_model else None
            params = {k: v for k, v in bound.arguments.items() if k not in RUNTIME_ARGS}
            traffic = {"requests": TRAFFIC.requests - before[0], "bytes_sent": TRAFFIC.sent - before[1],
                       "bytes_received": TRAFFIC.received - before[2]}
            return finish(REGISTRY[name], out, model, params, time.perf_counter() - start, traffic)

        exp = Experiment(name=name, func=run, summary=summary, page=page, tables=tuple(tables),
                         params=tuple(params), description=description or summary, kind=kind,
                         prepare=prepare, report=report, needs_model=needs_model,
                         extra_outputs=tuple(extra_outputs), many_models=many_models, write=write,
                         out_suffix=out_suffix)
        if name in REGISTRY:
            raise ValueError(f"experiment '{name}' registered twice")
        REGISTRY[name] = exp
        run.experiment = exp  # type: ignore[attr-defined]
        return run

    return register


def finish(exp: Experiment, res: Result, model: Any, params: dict[str, Any], elapsed: float,
           traffic: dict[str, int]) -> Result:
    """Attach the schema and the run's metadata to `res` and check its tables."""
    res.experiment = exp.name
    res.schema = exp.tables
    res.check()
    spec = getattr(model, "spec", None)
    res.meta = {
        "experiment": exp.name,
        "summary": exp.summary,
        "params": jsonable(summary(params)),
        "model": spec_meta(spec, model),
        "seed": params.get("seed"),
        "elapsed_seconds": round(elapsed, 3),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "packages": package_versions(),
        "remote": {"target": getattr(spec, "remote", "off"), **traffic},
        **{k: v for k, v in res.meta.items() if k == "command"},
    }
    return res


def spec_meta(spec: Optional["ModelSpec"], model: Any) -> dict[str, Any]:
    """The model part of the metadata: spec fields (never a secret) and card facts."""
    if spec is None:
        return {}
    card = getattr(model, "card", None)
    out = {"source": spec.source, "kind": spec.kind, "dtype": spec.dtype, "device": spec.device,
           "remote": spec.remote, "trust_remote_code": spec.trust_remote_code,
           "rename": [list(p) for p in spec.rename], "cli": spec.cli_args()}
    if card is not None:
        out.update({"name": card.name, "family": card.family, "layers": card.layers,
                    "lens_check": card.lens_check})
    return out


@functools.lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    from .. import __version__

    out = {"python": sys.version.split()[0], "hubcore": __version__}
    for pkg in ("torch", "transformers", "nnsight", "pandas", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "-"
    return out


# ------------------------------------------------------------------------- lookups

def load_all() -> dict[str, Experiment]:
    """Import every experiment module so the registry is complete."""
    from . import ALL_MODULES  # noqa: F401  (importing registers)

    return REGISTRY


def find(name: str) -> Experiment:
    load_all()
    try:
        return REGISTRY[name]
    except KeyError:
        raise InputError(f"Unknown experiment '{name}': see `python -m hubcore list`.") from None


def for_page(page: str) -> list[Experiment]:
    return [e for e in load_all().values() if e.page == page]


def of(fn: Callable[..., Any]) -> Experiment:
    """The registry entry of a registered function."""
    exp = getattr(fn, "experiment", None)
    if exp is None:
        raise KeyError(f"{getattr(fn, '__qualname__', fn)} is not a registered experiment")
    return exp


# ------------------------------------------------------------------ layers, shared rule

def default_layer(model: "Handle") -> int:
    """The one default layer of every page and command: the middle block (L // 2, at least 1),
    about where the paper steers (its layer 17 of 32)."""
    return max(1, int(model.num_layers) // 2)


# -------------------------------------------------------------- reproduce this run

def format_value(p: Param, value: Any) -> list[str]:
    """CLI tokens for one parameter value (empty when the switch is off)."""
    if p.switch:
        return [p.cli_flag] if value else []
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        if p.many == "comma":
            joined = ",".join(items)
            return [f"{p.cli_flag}={joined}"] if joined.startswith("-") else [p.cli_flag, joined]
        if p.many == "repeat":
            return [tok for v in items for tok in (p.cli_flag, v)]
        return [p.cli_flag, *items]
    text = _plain(value)
    return [f"{p.cli_flag}={text}"] if text.startswith("-") else [p.cli_flag, text]


def _plain(value: Any) -> str:
    if isinstance(value, float) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def changed(exp: Experiment, values: dict[str, Any]) -> dict[str, Any]:
    """The values that differ from the experiment's defaults (required ones always kept)."""
    base = exp.defaults()
    out = {}
    for p in exp.params:
        if p.name not in values or values[p.name] is None:
            continue
        v = values[p.name]
        same = _norm(v) == _norm(base.get(p.name))
        if not same or p.required:
            out[p.name] = v
    return out


def _norm(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return tuple(_norm(x) for x in v)
    if isinstance(v, float) and v == int(v):
        return int(v)
    return v


def reproduce_command(exp: Experiment, values: dict[str, Any], spec: Optional["ModelSpec"] = None,
                      out: Optional[str] = None) -> str:
    """The exact command line that regenerates a run (parameters that differ from the defaults)."""
    tokens = ["python", "-m", "hubcore", *exp.command]
    for name, value in changed(exp, values).items():
        tokens += format_value(exp.param(name), value)
    if spec is not None:
        tokens += spec.cli_args()
    tokens += ["--out", out or f"{exp.name.replace(' ', '_')}.csv"]
    return shlex.join(tokens)


def query_string(exp: Experiment, values: dict[str, Any]) -> dict[str, str]:
    """URL query parameters of a run, named like the CLI options (`top_k=5`)."""
    out: dict[str, str] = {}
    for name, value in changed(exp, values).items():
        p = exp.param(name)
        if p.switch:
            out[name] = "1" if value else "0"
        elif isinstance(value, (list, tuple)):
            out[name] = query_separator(p).join(_plain(v) for v in value)
        else:
            out[name] = _plain(value)
    return out


def query_separator(p: Param) -> str:
    """How a list value is joined in a URL: repeated options (`--prompt`) hold free text with
    commas, so their items are joined by line breaks; other lists by commas."""
    return "\n" if p.many == "repeat" else ","


def values_from_query(exp: Experiment, query: dict[str, str]) -> dict[str, Any]:
    """Parse URL query parameters back into values; unknown keys and bad values are ignored."""
    out: dict[str, Any] = {}
    for p in exp.params:
        if p.name not in query:
            continue
        raw = str(query[p.name])
        try:
            if p.switch:
                out[p.name] = raw.lower() in ("1", "true", "yes", "on")
            elif p.many:
                out[p.name] = [p.type(x) for x in raw.split(query_separator(p)) if x.strip()]
            else:
                out[p.name] = p.type(raw)
            if p.choices and not p.many and out[p.name] not in p.choices:
                del out[p.name]
            elif p.name in out:
                p.check(out[p.name])
        except (ValueError, InputError):
            out.pop(p.name, None)
    return out


def with_values(exp: Experiment, **changes: Any) -> Experiment:
    return replace(exp, **changes)


def read_input(path: str) -> bytes:
    """The bytes of a file an option names (`--source FILE.py`, `--prompts-file`), for `prepare`:
    read before any model loads, a missing file is one sentence."""
    from pathlib import Path

    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"Could not read '{path}': {exc.strerror or exc}.") from exc
