"""Out-of-memory recovery for batched work: halve the batch and retry, down to one item.

A batch sized for one machine (a token budget, a coefficient grid) can exhaust a smaller GPU or
a busy CPU. Rather than fail the whole run, `run_halving` catches the allocation failure, frees
what it can, splits the batch in two and runs each half; only a single item that still does not
fit becomes a `HubError` with advice. Results come back in the original item order, so callers
cannot tell a split run from an unsplit one (batched == unbatched is tested elsewhere).

nnsight re-raises errors from inside a trace as a subclass of the original type (with a
traceback in the message), so the checks below work on traced forwards too.
"""

from __future__ import annotations

import gc
from typing import Callable, Optional, Sequence, TypeVar

from .errors import HubError

T = TypeVar("T")
R = TypeVar("R")

# Phrases in the messages of allocation failures: CUDA, the CPU allocator, MPS.
_OOM_PHRASES = (
    "out of memory",
    "can't allocate memory",
    "cannot allocate memory",
    "failed to allocate",
    "not enough memory",
)


class OutOfMemory(HubError):
    """Even a batch of one item does not fit in memory."""


def is_oom(exc: BaseException) -> bool:
    """True for CUDA/MPS/CPU allocation failures (also when nnsight wraps them)."""
    import torch

    seen: set[int] = set()
    cur: Optional[BaseException] = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, (MemoryError, torch.OutOfMemoryError)):
            return True
        if isinstance(cur, RuntimeError):
            text = str(cur).lower()
            if any(p in text for p in _OOM_PHRASES):
                return True
        cur = cur.__cause__ or cur.__context__
    return False


def free_memory() -> None:
    """Release cached allocator blocks after a failed allocation."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and torch.backends.mps.is_available():
        mps.empty_cache()


def run_halving(
    fn: Callable[[Sequence[T]], R],
    items: Sequence[T],
    on_split: Optional[Callable[[int, int], None]] = None,
    what: str = "batch",
) -> list[tuple[Sequence[T], R]]:
    """`fn(items)`; on out-of-memory, `fn` on each half (recursively) instead.

    Returns `(sub_batch, fn(sub_batch))` pairs covering `items` in order: one pair when the
    whole batch fits. `on_split(old_size, new_size)` is told about every split (for a note or a
    log line). A single item that does not fit raises `OutOfMemory` (a `HubError`).
    """
    items = list(items)
    if not items:
        return []
    try:
        return [(items, fn(items))]
    except Exception as exc:
        if not is_oom(exc):
            raise
    free_memory()  # after the except block: the failed batch's tensors are unreferenced
    if len(items) == 1:
        raise OutOfMemory(
            f"Out of memory even for a {what} of one item: use a smaller model or dtype "
            "(bfloat16/float16), shorter inputs, or a device with more memory."
        )
    half = (len(items) + 1) // 2
    if on_split is not None:
        on_split(len(items), half)
    return run_halving(fn, items[:half], on_split, what) + run_halving(fn, items[half:], on_split, what)
