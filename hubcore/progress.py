"""A tiny progress protocol shared by the CLI (tqdm) and the pages (st.progress).

hubcore never imports a UI library: long work takes a `Progress` callback `(fraction, message)`
and the caller decides how to show it.
"""

from __future__ import annotations

from typing import Callable, Optional

Progress = Callable[[float, str], None]


def report(progress: Optional[Progress], fraction: float, message: str) -> None:
    """Call `progress` if one was given; fractions are clamped to [0, 1]."""
    if progress is not None:
        progress(min(max(fraction, 0.0), 1.0), message)


def scaled(progress: Optional[Progress], start: float, end: float) -> Optional[Progress]:
    """A callback that maps a sub-task's 0..1 onto `start..end` of the parent's bar."""
    if progress is None:
        return None
    return lambda f, m: progress(start + (end - start) * min(max(f, 0.0), 1.0), m)
