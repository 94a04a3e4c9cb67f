"""Where a trace runs: this machine, nnsight's serverless dry run, NDIF, or a self-hosted NDIF.

`ModelSpec.remote` is one of:

- `off`: plain local traces.
- `local`: the dry run of the remote path on this machine. The trace body is serialised exactly
  as for NDIF (source + referenced values, the model named rather than shipped), deserialised
  with this project's modules hidden (so anything not shipped by value fails as it would on a
  server), executed in the deserialised scope the way a server executes it, and only the values
  the body saved come back, through the same result serialisation. A passing dry run is strong
  evidence the real remote run works; it also measures the bytes each way.
- `ndif`: NDIF's public service (key from `NDIF_API_KEY` or the sidebar).
- an `http(s)://` URL: a self-hosted NDIF (PyPI `ndif`, on a lab's own GPUs).

The NDIF key is read from the environment or from a per-session context (the sidebar's password
field); it never enters a spec, a cache key, a file, a log line, an exception message or a
results sidecar (`scrub` removes it from any text that leaves this module).
"""

from __future__ import annotations

import contextlib
import contextvars
import linecache
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

from ..errors import HubError, InputError

REMOTE_CHOICES = ("off", "local", "ndif")
REMOTE_HELP = ("off (this machine), local (nnsight's dry run of the remote path on this machine), "
               "ndif (NDIF's public service; key from NDIF_API_KEY), or the http(s):// URL of a "
               "self-hosted NDIF")
MAX_RESULT_MB = float(os.environ.get("HUBCORE_REMOTE_MAX_RESULT_MB", "512"))
_URL = re.compile(r"^https?://[A-Za-z0-9.\-]+(:\d+)?(/[\w\-./]*)?$")


class RemoteError(HubError):
    """A remote run failed: unreachable service, missing or rejected key, server-side error."""


def parse_remote(value: Any) -> str:
    """Normalise a `--remote` value; one sentence for anything else."""
    if value is None or value is False:
        return "off"
    if value is True:
        return "ndif"
    text = str(value).strip()
    if text.lower() in REMOTE_CHOICES:
        return text.lower()
    if _URL.match(text):
        return text.rstrip("/")
    raise InputError(f"--remote '{text}' is not one of: {REMOTE_HELP}.")


def describe(remote: str) -> str:
    """Human words for where a trace runs (the model card's "Runs on")."""
    if remote == "off":
        return "this machine"
    if remote == "local":
        return "this machine, through the remote path (dry run)"
    if remote == "ndif":
        return "NDIF (public service)"
    return f"self-hosted NDIF at {remote}"


# ----------------------------------------------------------------------------- the NDIF key

_session_key: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("ndif_key", default=None)
_known_keys: set[str] = set()


def api_key() -> Optional[str]:
    """The key for this session (sidebar) or the environment; None when there is none."""
    key = _session_key.get() or os.environ.get("NDIF_API_KEY") or None
    if key:
        _known_keys.add(key)
    return key


@contextlib.contextmanager
def using_api_key(key: Optional[str]) -> Iterator[None]:
    """Run a block with `key` as this session's NDIF key (the sidebar sets it per rerun)."""
    if key:
        _known_keys.add(key)
    token = _session_key.set(key or None)
    try:
        yield
    finally:
        _session_key.reset(token)


def scrub(text: str) -> str:
    """`text` with every NDIF key this process has seen replaced by '***'."""
    out = str(text)
    for key in list(_known_keys) + [os.environ.get("NDIF_API_KEY") or ""]:
        if key and len(key) >= 4:
            out = out.replace(key, "***")
    return out


# ------------------------------------------------------------------------- status reporting

StatusCallback = Callable[[str], None]
_status: contextvars.ContextVar[Optional[StatusCallback]] = contextvars.ContextVar("remote_status", default=None)


@contextlib.contextmanager
def reporting_status(callback: Optional[StatusCallback]) -> Iterator[None]:
    """Send remote job states (queued / running / returning) to `callback` during a block."""
    token = _status.set(callback)
    try:
        yield
    finally:
        _status.reset(token)


def _say(message: str) -> None:
    callback = _status.get()
    if callback is not None:
        callback(message)


# ------------------------------------------------------------------------ traffic accounting

@dataclass
class Traffic:
    """Bytes shipped by remote traces (dry run or NDIF) since `reset`."""

    requests: int = 0
    sent: int = 0
    received: int = 0

    def add(self, sent: int, received: int) -> None:
        self.requests += 1
        self.sent += sent
        self.received += received


TRAFFIC = Traffic()


IN_TRACE_MODULES = ["hubcore.models.intrace"]  # code called inside trace bodies, shipped by value


def _register_in_trace_code() -> None:
    """Ship the trace-body helpers by value: the server has none of this project installed."""
    import importlib

    import nnsight

    for name in IN_TRACE_MODULES:
        nnsight.register(importlib.import_module(name))


@contextlib.contextmanager
def _project_unimportable() -> Iterator[None]:
    """While deserialising a dry run, also hide import hooks that could still find this project
    (an editable install's finder), so anything not shipped by value fails as on a server."""
    import sys

    hidden = []
    for finder in list(sys.meta_path):
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None or type(finder).__module__ == "importlib._bootstrap_external":
            continue
        try:
            found = find_spec("hubcore", None)
        except Exception:
            found = None
        if found is not None:
            hidden.append(finder)
            sys.meta_path.remove(finder)
    try:
        yield
    finally:
        for finder in hidden:
            sys.meta_path.append(finder)


# ------------------------------------------------------------------------------- backends

def dry_run_backend(nn: Any) -> Any:
    """The server-like dry run (`remote="local"`); see the module docstring."""
    from nnsight.intervention.backends.local import LocalSimulationBackend
    from nnsight.ndif import pull_env
    from nnsight.schema.request import RequestModel
    from nnsight.schema.response import ResponseModel, Status
    from nnsight.tracing.tracer import mark
    from nnsight.tracing.util import push

    class DryRun(LocalSimulationBackend):
        def __call__(self, tracer: Any) -> None:
            _register_in_trace_code()
            pull_env()
            blob = RequestModel.serialize(tracer, compress=False)
            persistent = self.model._remoteable_persistent_objects()
            filename = tracer.info.frame.f_code.co_filename
            kept_line = linecache.cache.get(filename)
            hidden = self._hide_local_modules()
            try:
                with _project_unimportable():
                    restored = RequestModel.deserialize(blob, persistent, compress=False)
            finally:
                self._restore(hidden)
                if kept_line is not None:
                    linecache.cache[filename] = kept_line
                else:
                    linecache.cache.pop(filename, None)
            frame = restored.info.frame
            before = dict(frame.f_locals)
            restored.execute(restored.info.code)  # in the deserialised scope, as a server does
            result = {k: v for k, v in frame.f_locals.items() if before.get(k) is not v}
            payload = ResponseModel(id="dry-run", status=Status.COMPLETED, data=result).pickle()
            TRAFFIC.add(len(blob), len(payload))
            if len(payload) > MAX_RESULT_MB * 2**20:
                raise RemoteError(
                    f"The remote result would be {len(payload) / 2**20:,.0f} MB (limit "
                    f"{MAX_RESULT_MB:,.0f} MB, HUBCORE_REMOTE_MAX_RESULT_MB): use fewer texts, "
                    "layers or positions per run."
                )
            back = ResponseModel.unpickle(payload).data or {}
            for value in back.values():
                mark(value)
            push(tracer.info.frame, back)

    return DryRun(nn)


def ndif_backend(nn: Any, remote: str) -> Any:
    """A blocking NDIF backend that reports job states and fails with one sentence."""
    from nnsight.intervention.backends.remote import RemoteBackend
    from nnsight.intervention.backends.remote import RemoteError as NnsightRemoteError

    key = api_key()
    host = None if remote == "ndif" else remote
    if remote == "ndif" and not key:
        raise RemoteError("No NDIF API key: set NDIF_API_KEY or enter it in the sidebar "
                          "(Run on > NDIF); get one at login.ndif.us.")

    class Ndif(RemoteBackend):
        def note(self, response: Any) -> bool:
            status = str(getattr(response.status, "value", response.status)).lower()
            words = {"received": "sent", "queued": "queued", "dispatched": "starting",
                     "running": "running", "completed": "returning results", "error": "failed"}
            _say(f"NDIF job {words.get(status, status)}")
            return super().note(response)

        def __call__(self, tracer: Any = None) -> Any:
            _register_in_trace_code()
            try:
                result = super().__call__(tracer)
            except HubError:
                raise
            except NnsightRemoteError as exc:
                raise RemoteError(translate(str(exc), self.host, nn)) from None
            except Exception as exc:  # network and protocol failures
                raise RemoteError(translate(f"{type(exc).__name__}: {exc}", self.host, nn)) from None
            return result

    try:
        model_key = nn.to_model_key()  # canonicalises the hub id with the Hugging Face hub
    except Exception as exc:
        raise RemoteError(scrub(
            f"Could not resolve {_model_name(nn)} on the Hugging Face hub for NDIF "
            f"({type(exc).__name__}): check the network, or run with --remote off."
        )) from None
    backend = Ndif(model_key, host=host, api_key=key)
    backend.display.enabled = False  # status goes to our progress callback instead
    return backend


def translate(message: str, host: str, nn: Any = None) -> str:
    """One sentence for a failed remote run (never containing the key)."""
    text = scrub(message)
    low = text.lower()
    first = next((l.strip() for l in text.splitlines() if l.strip()), text).strip()
    if len(first) > 200:
        first = first[:197] + "..."
    unreachable = ("connect", "resolve", "name or service", "timed out", "timeout", "unreachable",
                   "refused", "network", "getaddrinfo", "nodename")
    if any(w in low for w in ("api key", "apikey", "unauthor", "forbidden", "401", "403")):
        return f"NDIF at {host} rejected the API key: check NDIF_API_KEY or the key in the sidebar."
    if any(w in low for w in ("not running", "not deployed", "not hosted", "no deployment", "model_key")):
        name = _model_name(nn)
        return (f"{name} is not hosted on NDIF at {host}: see `python -m hubcore models --ndif` or "
                "nnsight.ndif.status() for the hosted models.")
    if any(w in low for w in ("too large", "payload", "413", "exceeds")):
        return f"NDIF at {host} refused the job as too large ({first}): use fewer texts, layers or positions."
    if any(w in low for w in unreachable):
        return f"NDIF at {host} cannot be reached ({first}): check the network, or run with --remote off."
    return f"The remote job failed on {host}: {first}"


def _model_name(nn: Any) -> str:
    try:
        return repr(nn.repo_id)
    except Exception:
        return "This model"


def backend_for(nn: Any, remote: str) -> Any:
    """The nnsight backend for a trace of `nn`, or None for a plain local trace."""
    if remote == "off":
        return None
    if remote == "local":
        return dry_run_backend(nn)
    return ndif_backend(nn, remote)


# ------------------------------------------------------------------- environment comparison

CRITICAL = ("torch", "transformers", "nnsight")


def environment_rows(remote: str, timeout: float = 10.0) -> tuple[list[tuple[str, str]], list[str]]:
    """(package rows "local vs server", warnings) for the model card; empty when not remote.

    For the dry run both sides are this machine. For NDIF the server's `/env` is read; a
    mismatch of torch, transformers or nnsight is a warning (results may differ).
    """
    if remote == "off":
        return [], []
    from importlib.metadata import version

    local = {p: _version(version, p) for p in CRITICAL}
    if remote == "local":
        return [(p, f"{v} (dry run: same machine)") for p, v in local.items()], []
    host = remote if remote != "ndif" else _ndif_host()
    try:
        import httpx

        resp = httpx.get(f"{host}/env", timeout=timeout)
        resp.raise_for_status()
        server = dict(resp.json().get("packages", {}))
    except Exception as exc:
        return [], [scrub(f"Could not read the server's package versions from {host} ({type(exc).__name__}).")]
    rows, warnings = [], []
    for pkg in CRITICAL:
        mine, theirs = local.get(pkg, "-"), str(server.get(pkg, "-"))
        rows.append((pkg, f"{mine} here, {theirs} on the server"))
        if mine != theirs:
            warnings.append(f"{pkg} differs (here {mine}, server {theirs}): results may differ from a local run.")
    return rows, warnings


def _version(version: Callable[[str], str], pkg: str) -> str:
    try:
        return version(pkg)
    except Exception:
        return "-"


def _ndif_host() -> str:
    from nnsight.schema.config import CONFIG

    return str(CONFIG.API.HOST)
