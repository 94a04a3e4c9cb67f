"""Shared bits for the benchmarks: import path, a varied short-text corpus, a timer."""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

_SUBJECTS = ["The cat", "My neighbour", "El perro", "La ciudad", "今天的天气", "我的朋友", "Le train",
             "Die Katze", "The committee", "A small robot"]
_ENDINGS = ["is sleeping on the sofa.", "llegó tarde otra vez", "很好，我们去公园吧。",
            "arrive à huit heures.", "ist sehr müde.", "voted to approve the new budget today.",
            "8=5+3", "def add(a, b): return a + b", "est très content", "quiere comer pizza"]


def short_texts(n: int = 200) -> list[str]:
    """`n` short, varied, multilingual texts (deterministic)."""
    pairs = itertools.cycle(itertools.product(_SUBJECTS, _ENDINGS))
    return [f"{s} {e}" for s, e in itertools.islice(pairs, n)]


def best_time(fn: Callable[[], object], repeat: int = 3) -> float:
    """Minimum wall time over `repeat` runs (the least noisy estimate on a shared machine)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
