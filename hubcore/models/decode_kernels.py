"""Threaded matrix products for local CPU decoding steps.

A decoding step multiplies one new position per row (batch 1-8 here) by every weight of the
model: matrix-vector work that memory bandwidth and thin-GEMM efficiency bound. PyTorch's CPU
`linear` hands that shape to MKL: at batch 1 a GEMV on one thread (the default model's
262k x 640 head: 72 ms = 9.3 GB/s on this 2-core machine, about half its bandwidth), at 2-64
rows a transposed GEMM slower still (the head took 195 ms for 6 rows). Rerouted here, to
oneDNN's inner product, which PyTorch ships for its own compiler
(`torch.ops.mkldnn._linear_pointwise`) and runs on every intra-op thread:
- at batch 1, the vocabulary-sized head only (49 ms). A block's batch-1 GEMV stays on MKL: its
  states then stay bit-identical to transformers' own decoding steps (oneDNN saves ~8 ms a step
  there but rounds beyond the 1e-4 state check of the steering tests);
- at 2-64 rows, every weight, from a copy in oneDNN's blocked layout (`PackedWeights`): given a
  plain weight, oneDNN reorders it on every call, which costs about as much as the product.
  With the copies (1.07 GB for the default model, made once on the first multi-row step), the
  head at 8 rows took 63-68 ms instead of 95-98 ms as `weight @ x.T` on MKL, and a whole 8-row
  step 173 ms instead of 217 ms (medians, alternating in one process); at 2-4 rows the two are
  even. A packed product equals the unpacked oneDNN product bit for bit, so a weight left
  unpacked (over the byte budget, an inference tensor) changes the time only.

`DecodeKernels` is a `TorchFunctionMode` (thread-local, so concurrent sessions are untouched)
that routes such `linear` calls while it is active, and leaves every other call alone. A
rerouted product differs from MKL's by float rounding only (max |difference| ~1e-4 on the
default model's logits, like a change of batch size); `generation.generate_ids` uses it for its
local decoding loop, never inside a trace (so NDIF and the dry run see plain modules).
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from typing import Any, ContextManager, Optional

import torch
from torch.overrides import TorchFunctionMode

MAX_ROWS = 64  # above this, MKL's GEMM is the better kernel (a prompt pass, a lens)
HEAD_SIZE = 1 << 24  # one row: only a vocabulary-sized head is rerouted (see `routes`)
PACK_ROWS = 8  # the row count oneDNN lays a packed weight out for (fast for 2-64 rows here)
PACK_BUDGET = 2 << 30  # bytes of packed copies kept per process (the default model needs 1.07 GB)


def onednn_linear() -> Any:
    """oneDNN's inner-product op, or None where this PyTorch build lacks it."""
    if not torch.backends.mkldnn.is_available():
        return None
    return getattr(torch.ops.mkldnn, "_linear_pointwise", None)


def routes(x: Any, weight: Any, bias: Any) -> bool:
    """Whether `linear(x, weight, bias)` is a small-batch fp32 CPU product worth rerouting."""
    if not (isinstance(x, torch.Tensor) and isinstance(weight, torch.Tensor)):
        return False
    if x.device.type != "cpu" or weight.device.type != "cpu" or weight.dim() != 2 or x.dim() < 1:
        return False
    if x.dtype != torch.float32 or weight.dtype != torch.float32 or x.requires_grad or weight.requires_grad:
        return False
    if bias is not None and (not isinstance(bias, torch.Tensor) or bias.dtype != torch.float32):
        return False
    if x.shape[-1] != weight.shape[1] or not weight.is_contiguous():
        return False
    rows = x.numel() // max(x.shape[-1], 1)
    return 2 <= rows <= MAX_ROWS or (rows == 1 and weight.numel() >= HEAD_SIZE)


class PackedWeights:
    """oneDNN's blocked copies of weights, made on first use and kept while the weight lives.

    Keyed by the weight tensor (by identity, through a weak reference, so a dropped model frees
    its copies) and by its version counter (an in-place change of the weight makes a new copy).
    At most `budget` bytes of copies: a weight beyond it stays unpacked. Thread-safe."""

    def __init__(self, budget: int) -> None:
        self.budget = int(budget)
        self.bytes = 0
        self._entries: dict[int, tuple[Any, int, Any, int]] = {}  # id -> (ref, version, copy, bytes)
        self._lock = threading.RLock()  # a weight may die (callback) while `get` holds it

    def get(self, weight: Any) -> Optional[Any]:
        """The packed copy of `weight` (made now if the budget allows), or None."""
        try:
            version = weight._version
        except RuntimeError:  # an inference tensor has no version counter: a change would go unseen
            return None
        key = id(weight)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0]() is weight and entry[1] == version:
                return entry[2]
            if entry is not None:
                self._drop(key)
            size = weight.numel() * weight.element_size()
            if self.bytes + size > self.budget:
                return None
            packed = torch.ops.mkldnn._reorder_linear_weight(weight, PACK_ROWS)
            ref = weakref.ref(weight, lambda dead, k=key: self._forget(k, dead))
            self._entries[key] = (ref, version, packed, size)
            self.bytes += size
            return packed

    def _forget(self, key: int, dead: Any) -> None:
        """A weight died: drop its copy (unless the key already holds another weight's)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] is dead:
                self._drop(key)

    def _drop(self, key: int) -> None:
        self.bytes -= self._entries.pop(key)[3]

    def clear(self) -> None:
        """Drop every copy (their memory comes back once no product holds them)."""
        with self._lock:
            for key in list(self._entries):
                self._drop(key)


PACKED = PackedWeights(PACK_BUDGET)


class DecodeKernels(TorchFunctionMode):
    """While active (in this thread), small-batch fp32 CPU `linear` calls take the kernels above."""

    def __init__(self, op: Any, packed: PackedWeights = PACKED) -> None:
        super().__init__()
        self.op = op
        self.packed = packed

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func is torch.nn.functional.linear and len(args) >= 2:
            x, weight = args[0], args[1]
            bias = args[2] if len(args) > 2 else kwargs.get("bias")
            if routes(x, weight, bias):
                flat = x.reshape(-1, x.shape[-1])
                packed = self.packed.get(weight) if flat.shape[0] > 1 else None
                out = self.op(flat, weight if packed is None else packed, bias, "none", [], "")
                return out.reshape(*x.shape[:-1], out.shape[-1])
        return func(*args, **kwargs)


def decode_kernels(device: Any) -> ContextManager[Any]:
    """The mode for a local decoding loop on `device`; a no-op off the CPU or without oneDNN."""
    op = onednn_linear()
    if op is None or torch.device(device).type != "cpu":
        return contextlib.nullcontext()
    return DecodeKernels(op)
