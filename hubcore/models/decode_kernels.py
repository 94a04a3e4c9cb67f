"""Threaded matrix-vector products for local CPU decoding steps.

A decoding step multiplies one new position per row (batch 1-8 here) by every weight of the
model: matrix-vector work that only memory bandwidth bounds. PyTorch's CPU `linear` hands that
shape to MKL's GEMV, which runs on one thread (the default model's 262k x 640 head at batch 1:
72 ms = 9.3 GB/s on this 2-core machine, about half its bandwidth), or for 2-16 rows to a
transposed GEMM that is slower still (the head took 195 ms for 6 rows). Rerouted here: the
vocabulary-sized head at batch 1 to oneDNN's inner product, which PyTorch ships for its own
compiler (`torch.ops.mkldnn._linear_pointwise`) and runs on every intra-op thread (49 ms), and
every weight at 2-64 rows to `weight @ x.T` (MKL's threaded GEMM, weight untransposed: ~4x
faster for the head), transposed back into a contiguous result (`rows_product`). A block's
batch-1 GEMV stays on MKL: its states then stay bit-identical to transformers' own decoding
steps (oneDNN saved ~10 ms a step there but rounds differently).

`DecodeKernels` is a `TorchFunctionMode` (thread-local, so concurrent sessions are untouched)
that routes such `linear` calls while it is active, and leaves every other call alone. A
rerouted product differs from MKL's by float rounding only (max |difference| ~5e-5 on the
default model's logits, like a change of batch size); `generation.generate_ids` uses it for its
local decoding loop, never inside a trace (so NDIF and the dry run see plain modules).
"""

from __future__ import annotations

import contextlib
from typing import Any, ContextManager

import torch
from torch.overrides import TorchFunctionMode

MAX_ROWS = 64  # above this, MKL's GEMM is the better kernel (a prompt pass, a lens)
HEAD_SIZE = 1 << 24  # one row: only a vocabulary-sized head is rerouted (see `routes`)
CHUNK = 1 << 16  # weight rows per GEMM of a vocabulary-sized head at 2-64 rows (`rows_product`)


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
    if x.shape[-1] != weight.shape[1]:
        return False
    rows = x.numel() // max(x.shape[-1], 1)
    return 2 <= rows <= MAX_ROWS or (rows == 1 and weight.numel() >= HEAD_SIZE)


def rows_product(flat: Any, weight: Any) -> Any:
    """`flat @ weight.T` for 2-64 rows, contiguous, as `weight @ flat.T` (MKL's threaded GEMM
    with the weight untransposed) transposed back.

    The transpose must not be left as a view: every later op over the vocabulary (penalty,
    softmax, top-k) then walks memory with a stride of the batch size, and at batch 6 the copies
    they make cost 13 ms a step. A vocabulary-sized head is multiplied in blocks of
    `CHUNK` weight rows, each block's `[CHUNK x rows]` result transposed while it is still in
    cache (the same GEMM per block: the values do not change)."""
    xt = flat.t()
    n = weight.shape[0]
    if n <= CHUNK:
        return torch.mm(weight, xt).t().contiguous()
    out = flat.new_empty((flat.shape[0], n))
    for a in range(0, n, CHUNK):
        out[:, a:a + CHUNK] = torch.mm(weight[a:a + CHUNK], xt).t()
    return out


class DecodeKernels(TorchFunctionMode):
    """While active (in this thread), small-batch fp32 CPU `linear` calls take the kernels above."""

    def __init__(self, op: Any) -> None:
        super().__init__()
        self.op = op

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func is torch.nn.functional.linear and len(args) >= 2:
            x, weight = args[0], args[1]
            bias = args[2] if len(args) > 2 else kwargs.get("bias")
            if routes(x, weight, bias):
                flat = x.reshape(-1, x.shape[-1])
                if flat.shape[0] == 1:
                    out = self.op(flat, weight, bias, "none", [], "")
                else:
                    out = rows_product(flat, weight)
                    if bias is not None:
                        out = out + bias
                return out.reshape(*x.shape[:-1], weight.shape[0])
        return func(*args, **kwargs)


def decode_kernels(device: Any) -> ContextManager[Any]:
    """The mode for a local decoding loop on `device`; a no-op off the CPU or without oneDNN."""
    op = onednn_linear()
    if op is None or torch.device(device).type != "cpu":
        return contextlib.nullcontext()
    return DecodeKernels(op)
