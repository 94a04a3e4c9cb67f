"""Unsteered continuations remembered per loaded model, so a steering slider regenerates only
the rows it changes.

On the Steering page every coefficient or layer move re-runs the side by side, whose unsteered
column (coefficient 0, one row per seed) is the same each time: it depends on the model, the
input text, the seed and the sampling settings only. Each row samples from its own seeded
generator and a row's text does not depend on the other rows of its batch (see
`experiments.actadd`), so the ids generated earlier are the ids a new batch would give; reusing
them leaves 4 rows to decode instead of 6, and a batch of 4 steps faster than a batch of 6 on a
CPU (the vocabulary head's GEMM).

Only local runs are remembered (a remote run's model lives elsewhere), per loaded model (a
reloaded model starts empty), at most `MAX_ROWS` rows per model, oldest dropped first.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Any, Hashable, Optional, Sequence

MAX_ROWS = 512

_rows: "weakref.WeakKeyDictionary[Any, OrderedDict[Hashable, tuple[int, ...]]]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def row_key(text: str, seed: int, settings: Sequence[Any]) -> tuple:
    """What an unsteered row depends on besides the model: its input text (instruction
    included), its seed and the generation settings (tokens, greedy, temperature, top-p,
    penalty)."""
    return (str(text), int(seed), tuple(settings))


def recall(model: Any, key: Hashable) -> Optional[list[int]]:
    """The ids generated earlier for `key` on this loaded model, or None."""
    if model.remote != "off":
        return None
    with _lock:
        rows = _rows.get(model)
        if rows is None or key not in rows:
            return None
        rows.move_to_end(key)
        return list(rows[key])


def remember(model: Any, key: Hashable, ids: Sequence[int]) -> None:
    """Keep an unsteered row's ids for later runs on this loaded model (local runs only)."""
    if model.remote != "off":
        return
    with _lock:
        rows = _rows.setdefault(model, OrderedDict())
        rows[key] = tuple(int(i) for i in ids)
        rows.move_to_end(key)
        while len(rows) > MAX_ROWS:
            rows.popitem(last=False)


def forget(model: Any = None) -> None:
    """Drop the remembered rows of `model` (every model when None): tests, or a reload."""
    with _lock:
        if model is None:
            _rows.clear()
        else:
            _rows.pop(model, None)
