"""Values computed on a loaded model, kept for later runs on the same model.

A steering slider re-runs the whole side by side, yet part of it (the unsteered column, the
fluency of a text scored before) depends only on the model and its inputs. A `ModelMemo` keeps
such values per loaded model: weak keys, so a reloaded or dropped model starts empty; local runs
only, since a remote run's model lives elsewhere; at most `max_entries` per model, the least
recently used dropped first. Thread-safe: Streamlit serves every session from one process.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Any, Hashable, Optional

_memos: "weakref.WeakSet[ModelMemo]" = weakref.WeakSet()


class ModelMemo:
    """A least-recently-used map per loaded model (see the module docstring)."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = int(max_entries)
        self._values: "weakref.WeakKeyDictionary[Any, OrderedDict[Hashable, Any]]" = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        _memos.add(self)

    def recall(self, model: Any, key: Hashable) -> Optional[Any]:
        """The value kept for `key` on this loaded model, or None (always None for a remote run)."""
        if model.remote != "off":
            return None
        with self._lock:
            values = self._values.get(model)
            if values is None or key not in values:
                return None
            values.move_to_end(key)
            return values[key]

    def remember(self, model: Any, key: Hashable, value: Any) -> None:
        """Keep `value` for later runs on this loaded model (local runs only)."""
        if model.remote != "off":
            return
        with self._lock:
            values = self._values.setdefault(model, OrderedDict())
            values[key] = value
            values.move_to_end(key)
            while len(values) > self.max_entries:
                values.popitem(last=False)

    def forget(self, model: Any = None) -> None:
        """Drop what is kept for `model` (for every model when None)."""
        with self._lock:
            if model is None:
                self._values.clear()
            else:
                self._values.pop(model, None)


def forget_all() -> None:
    """Empty every memo (tests: a test's results must not depend on the tests before it)."""
    for memo in list(_memos):
        memo.forget()
