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
reloaded model starts empty), at most `MAX_ROWS` rows per model, oldest dropped first
(`models.memo.ModelMemo`).
"""

from __future__ import annotations

from typing import Any, Hashable, Optional, Sequence

from ..models.memo import ModelMemo

MAX_ROWS = 512

_rows = ModelMemo(MAX_ROWS)


def row_key(text: str, seed: int, settings: Sequence[Any]) -> tuple:
    """What an unsteered row depends on besides the model: its input text (instruction
    included), its seed and the generation settings (tokens, greedy, temperature, top-p,
    penalty)."""
    return (str(text), int(seed), tuple(settings))


def recall(model: Any, key: Hashable) -> Optional[list[int]]:
    """The ids generated earlier for `key` on this loaded model, or None."""
    ids = _rows.recall(model, key)
    return None if ids is None else list(ids)


def remember(model: Any, key: Hashable, ids: Sequence[int]) -> None:
    """Keep an unsteered row's ids for later runs on this loaded model (local runs only)."""
    _rows.remember(model, key, tuple(int(i) for i in ids))


def forget(model: Any = None) -> None:
    """Drop the remembered rows of `model` (every model when None): tests, or a reload."""
    _rows.forget(model)
