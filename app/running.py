"""The running state of every computation on every page: progress, time left, Stop, the demo bundle.

A result is looked up in order: the process-wide result cache (deterministic results, shared by
all sessions), then the demo bundle (`hubcore.demo_bundle`, said on the page with a "Recompute
live" button), and only then computed. A computation runs as a *job* on a worker thread while the
page's script polls it, so the page shows, and keeps updating:

- a progress bar with the experiment's own stage text, the elapsed time and the time left,
  estimated from the run's measured throughput (`hubcore.progress.eta_seconds`);
- before a run predicted to take more than `hubcore.estimates.WARN_SECONDS` on this machine
  (from earlier runs recorded in the cache directory), a warning with the estimate;
- a Stop button. Stop is cooperative: the job's progress callback raises `Cancelled` at the
  experiment's next report (`hubcore.progress.cancellable`), so it ends between steps, and the
  page keeps showing the result it showed before, with a button to run it again.

Because the job lives outside the script run, moving a display-only widget while it runs does
not restart it: the rerun finds the job and goes on showing its progress.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Hashable, Optional

import streamlit as st

from hubcore import demo_bundle, estimates
from hubcore.cpu_threads import browser_watching
from hubcore.errors import Cancelled
from hubcore.models.remote import reporting_status, using_api_key
from hubcore.progress import cancellable, eta_seconds, format_duration

POLL_SECONDS = 0.25
MAX_RESULTS = 64
STOPPED = "_stopped_runs"  # session: run key -> what it had done when stopped
LAST = "_last_results"  # session: call site -> the result it showed last
LIVE = "_recompute_live"  # session: run keys to compute live although bundled
INFLIGHT = "_inflight_runs"  # session: call site -> run key it is waiting for
APP_DIR = str(Path(__file__).resolve().parent)

_results: "OrderedDict[tuple, Any]" = OrderedDict()
_results_lock = threading.Lock()


@dataclass
class Job:
    """One computation on a worker thread, polled by whichever script runs want its result."""

    key: tuple
    name: str
    predicted: Optional[float] = None
    started: float = field(default_factory=time.perf_counter)
    fraction: float = 0.0
    message: str = "Starting…"
    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: Optional[BaseException] = None

    def update(self, fraction: Optional[float], message: str) -> None:
        if fraction is not None:
            self.fraction = min(max(float(fraction), 0.0), 1.0)
        self.message = message or self.message

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def status(self) -> str:
        """'Reading layer 7/18 · 40% · 12 s elapsed · about 18 s left'."""
        parts = [self.message, f"{self.fraction:.0%}", f"{format_duration(self.elapsed)} elapsed"]
        left = eta_seconds(self.elapsed, self.fraction, self.predicted)
        if left is not None:
            parts.append(f"about {format_duration(left)} left")
        return " · ".join(parts)


_jobs: dict[tuple, Job] = {}
_jobs_lock = threading.Lock()


def run_key(fn: Callable[..., Any], spec: Hashable, params: dict[str, Any]) -> tuple:
    return (f"{fn.__module__}.{fn.__qualname__}", spec, tuple(sorted(params.items())))


def call_site() -> str:
    """file:line of the page code that asked for the result (what "the previous result" means)."""
    for frame in reversed(traceback.extract_stack(limit=12)[:-1]):
        if not frame.filename.startswith(APP_DIR):
            return f"{frame.filename}:{frame.lineno}"
    return "?"


def _session(name: str) -> dict:
    return st.session_state.setdefault(name, {})


def remember(key: tuple, result: Any) -> None:
    with _results_lock:
        _results[key] = result
        _results.move_to_end(key)
        while len(_results) > MAX_RESULTS:
            _results.popitem(last=False)


def cached(key: tuple) -> tuple[bool, Any]:
    with _results_lock:
        if key in _results:
            _results.move_to_end(key)
            return True, _results[key]
    return False, None


def clear() -> None:
    """Forget cached results and finished jobs (tests, or after a model is reloaded)."""
    with _results_lock:
        _results.clear()
    _bundled.clear()


# ------------------------------------------------------------------------ the lookup

def get_result(fn: Callable[..., Any], spec: Hashable, load: Callable[[], Any], api_key: Optional[str],
               **params: Any) -> Any:
    """The result of `fn(load(), **params)`: cached, bundled, or computed with a running state."""
    key = run_key(fn, spec, params)
    site = call_site()
    hit, result = cached(key)
    if hit:
        _session(LAST)[site] = result
        return result
    exp = getattr(fn, "experiment", None)
    if exp is not None and key not in _session(LIVE):
        found = bundled(exp.name, spec, fn, params)
        if found is not None:
            bundle_note(found, key)
            _session(LAST)[site] = found.result
            return found.result
    if key in _session(STOPPED):
        return stopped_view(key, site)
    result = wait_for(fn, spec, load, api_key, key, site, params, exp.name if exp else fn.__qualname__)
    _session(LAST)[site] = result
    return result


_bundled: "OrderedDict[str, Optional[demo_bundle.Bundled]]" = OrderedDict()


def bundled(name: str, spec: Hashable, fn: Callable[..., Any], params: dict[str, Any]) -> Optional[demo_bundle.Bundled]:
    """The demo bundle's result of this call (decoded once per process), or None."""
    bkey = demo_bundle.bundle_key(name, spec, fn, params)
    if bkey not in _bundled:
        _bundled[bkey] = demo_bundle.lookup(name, spec, fn, params)
        while len(_bundled) > MAX_RESULTS:
            _bundled.popitem(last=False)
    return _bundled[bkey]


def bundle_note(found: demo_bundle.Bundled, key: tuple) -> None:
    """'Opened from the demo bundle (computed …)' and the button that recomputes live."""
    when = found.computed_at
    try:
        when = datetime.fromisoformat(found.computed_at).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        pass
    c1, c2 = st.columns([5, 1], vertical_alignment="center")
    c1.caption(f":material/inventory_2: Opened from the demo bundle (computed {when}; live it took "
               f"{format_duration(found.live_seconds)} here).")
    c2.button("Recompute live", key=f"live-{abs(hash(key))}", on_click=_recompute_live, args=(key,),
              icon=":material/refresh:", help="Run this experiment now instead of showing the bundled result.")


def _recompute_live(key: tuple) -> None:
    _session(LIVE)[key] = True


# ------------------------------------------------------------------------- stopping

def request_stop(key: tuple) -> None:
    """Stop button callback: the job ends at its next progress report; the page shows what it
    showed before."""
    job = _jobs.get(key)
    done = (job.fraction, job.elapsed, job.message) if job is not None else (0.0, 0.0, "")
    if job is not None:
        job.cancel.set()
    _session(STOPPED)[key] = done


def _run_again(key: tuple) -> None:
    _session(STOPPED).pop(key, None)


def stopped_view(key: tuple, site: str) -> Any:
    """A stopped run: say so, offer to run it again, and hand back the previous result."""
    fraction, elapsed, message = _session(STOPPED)[key]
    previous = _session(LAST).get(site)
    c1, c2 = st.columns([5, 1], vertical_alignment="center")
    c1.info(f"Stopped at {fraction:.0%} after {format_duration(elapsed)}"
            + (f" ({message})" if message else "") + ". "
            + ("Showing the previous result." if previous is not None else "Nothing computed yet."),
            icon=":material/stop_circle:")
    c2.button("Run it again", key=f"again-{abs(hash(key))}", on_click=_run_again, args=(key,),
              icon=":material/play_arrow:")
    if previous is None:
        raise Cancelled("Stopped before a first result: press Run it again to compute it.")
    return previous


# -------------------------------------------------------------------------- running

def start(fn: Callable[..., Any], model: Any, spec: Hashable, api_key: Optional[str], key: tuple,
          name: str, params: dict[str, Any], spare_core: bool = False) -> Job:
    """Start `fn` on a worker thread (the NDIF key and remote status travel with it).
    `spare_core`: the run streams to a browser on this machine, which gets a core while the
    run streams (`hubcore.cpu_threads`)."""
    estimate = estimates.predict(name, spec, params)
    job = Job(key=key, name=name, predicted=estimate.seconds if estimate else None)

    def work() -> None:
        try:
            with using_api_key(api_key), reporting_status(lambda m: job.update(None, m)), \
                    browser_watching(spare_core):
                result = fn(model, progress=cancellable(job.update, job.cancel.is_set), **params)
            job.result = result
            remember(key, result)  # kept even if the page that asked has gone meanwhile
            estimates.record(name, spec, params, job.elapsed)
        except BaseException as exc:  # handed to the script run that waits for it
            job.error = exc
        finally:
            job.done.set()
            with _jobs_lock:
                if _jobs.get(key) is job:
                    del _jobs[key]

    with _jobs_lock:
        _jobs[key] = job
    threading.Thread(target=work, name=f"hub-run {name}", daemon=True).start()
    return job


def wait_for(fn: Callable[..., Any], spec: Hashable, load: Callable[[], Any], api_key: Optional[str],
             key: tuple, site: str, params: dict[str, Any], name: str, retry: bool = True) -> Any:
    """Attach to the job computing `key` (starting it if there is none) and show its running
    state until it finishes; a job this page no longer wants is stopped."""
    with _jobs_lock:
        job = _jobs.get(key)
    if job is None or job.cancel.is_set():
        model = load()
        streams_here = params.get("stream") is not None and st.context.ip_address is None  # a local viewer
        job = start(fn, model, spec, api_key, key, name, params, spare_core=streams_here)
    inflight = _session(INFLIGHT)
    previous = inflight.get(site)
    if previous is not None and previous != key:
        old = _jobs.get(previous)
        if old is not None:
            old.cancel.set()  # the page asked for something else here: free the model for it
    inflight[site] = key
    holder = st.empty()
    with holder.container():
        if job.predicted is not None and job.predicted > estimates.WARN_SECONDS:
            st.warning(f"This run is predicted to take about {format_duration(job.predicted)} on this "
                       "machine (measured on earlier runs here). Press Stop to cancel it: the page "
                       "keeps what it showed before.", icon=":material/hourglass_top:")
        c1, c2 = st.columns([6, 1], vertical_alignment="bottom")
        bar = c1.progress(job.fraction, text=job.status())
        c2.button("Stop", key=f"stop-{abs(hash(key))}", on_click=request_stop, args=(key,),
                  icon=":material/stop_circle:", help="Cancel this run; the page keeps its previous result.")
        while not job.done.wait(POLL_SECONDS):
            bar.progress(job.fraction, text=job.status())
    holder.empty()
    inflight.pop(site, None)
    if job.error is not None:
        if isinstance(job.error, Cancelled) and key not in _session(STOPPED) and retry:
            # stopped for another page or session that no longer wanted it: this one still does
            return wait_for(fn, spec, load, api_key, key, site, params, name, retry=False)
        raise job.error
    return job.result
