"""A tiny progress protocol shared by the CLI (tqdm) and the pages (st.progress).

hubcore never imports a UI library: long work takes a `Progress` callback `(fraction, message)`
and the caller decides how to show it. The same callback is how a run is stopped: a caller that
wants a Stop button wraps its callback with `cancellable`, which raises `Cancelled` at the next
report once the user asked (runs end between steps, never halfway through a trace). `eta_seconds`
turns elapsed time and the fraction done into the "time left" every running state shows.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

from .errors import Cancelled

Progress = Callable[[float, str], None]

# the measured rate is trusted once this much is done and this long has passed (before that a
# first slow step, e.g. tokenising, would predict nonsense)
MIN_FRACTION = 0.05
MIN_ELAPSED = 1.0


def report(progress: Optional[Progress], fraction: float, message: str) -> None:
    """Call `progress` if one was given; fractions are clamped to [0, 1]."""
    if progress is not None:
        progress(min(max(fraction, 0.0), 1.0), message)


def scaled(progress: Optional[Progress], start: float, end: float) -> Optional[Progress]:
    """A callback that maps a sub-task's 0..1 onto `start..end` of the parent's bar."""
    if progress is None:
        return None
    return lambda f, m: progress(start + (end - start) * min(max(f, 0.0), 1.0), m)


def cancellable(progress: Optional[Progress], stopped: Callable[[], bool]) -> Progress:
    """`progress`, raising `Cancelled` at the next report once `stopped()` is true.

    Experiments report between batches, so a stopped run ends at a clean point: no lock is
    held, no cache entry is half-written, and the caller still has whatever it showed before."""
    def report_or_stop(fraction: float, message: str) -> None:
        if stopped():
            raise Cancelled("Stopped before the run finished; nothing from it was kept.")
        if progress is not None:
            progress(fraction, message)

    return report_or_stop


def eta_seconds(elapsed: float, fraction: float, predicted: Optional[float] = None) -> Optional[float]:
    """Seconds left in a run: from its measured throughput (elapsed / fraction done) once that is
    meaningful, else from a prediction made before it started (minus the time spent), else None.
    """
    if fraction >= 1.0:
        return 0.0
    if fraction >= MIN_FRACTION and elapsed >= MIN_ELAPSED:
        return elapsed * (1.0 - fraction) / fraction
    if predicted is not None and math.isfinite(predicted):
        return max(predicted - elapsed, 0.0)
    return None


def format_duration(seconds: float) -> str:
    """'under 1 s', '45 s', '2 min 10 s', '1 h 5 min': how long, for a sentence."""
    if seconds < 1:
        return "under 1 s"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        m, s = divmod(s, 60)
        return f"{m} min {s} s" if s else f"{m} min"
    h, rest = divmod(s, 3600)
    return f"{h} h {rest // 60} min"
