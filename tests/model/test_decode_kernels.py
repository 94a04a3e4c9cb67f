"""The decoding steps' threaded matrix-vector products (issue 17): what they reroute, that the
products equal PyTorch's within float rounding, that only the local loop uses them, and that
another thread's products are untouched while one thread decodes."""

from __future__ import annotations

import gc
import threading

import pytest
import torch

import hubcore.steering.generation as generation
from hubcore.models import decode_kernels as K
from hubcore.steering import generate_ids

linear = torch.nn.functional.linear
needs_onednn = pytest.mark.skipif(K.onednn_linear() is None, reason="this PyTorch build has no oneDNN")


def test_routes_small_batches_and_single_rows_only_through_a_vocabulary_head():
    small, head = torch.zeros(64, 32), torch.zeros(K.HEAD_SIZE // 32, 32)
    assert not K.routes(torch.zeros(1, 32), small, None)  # a block's GEMV keeps MKL's rounding
    assert K.routes(torch.zeros(1, 1, 32), head, None)
    assert K.routes(torch.zeros(4, 1, 32), small, torch.zeros(64))
    assert not K.routes(torch.zeros(K.MAX_ROWS + 1, 32), small, None)  # a prompt pass: MKL's GEMM
    assert not K.routes(torch.zeros(4, 32, dtype=torch.float64), small.double(), None)
    assert not K.routes(torch.zeros(4, 31), small, None)
    assert not K.routes(torch.zeros(4, 32, requires_grad=True), small, None)
    assert not K.routes(torch.zeros(4, 64), small.t(), None)  # a transposed view: PyTorch's own product


@needs_onednn
@pytest.mark.parametrize("shape,rows,bias", [((K.HEAD_SIZE // 64, 64), (1, 1), False),
                                             ((96, 64), (3, 1), True), ((96, 64), (5,), False)])
def test_rerouted_products_equal_torch_within_rounding(shape, rows, bias):
    g = torch.Generator().manual_seed(0)
    w = torch.randn(*shape, generator=g)
    x = torch.randn(*rows, shape[1], generator=g)
    b = torch.randn(shape[0], generator=g) if bias else None
    want = linear(x, w, b)
    with K.decode_kernels("cpu"):
        got = linear(x, w, b)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-5)


@needs_onednn
@pytest.mark.parametrize("rows", [2, 6])
def test_a_vocabulary_head_at_several_rows_comes_back_contiguous_with_the_same_values(rows):
    """Several rows take the packed copy of the weight: the product is contiguous, close to
    PyTorch's, and equal bit for bit to oneDNN's product of the plain weight, so a weight left
    unpacked (over the budget) changes nothing but the time."""
    g = torch.Generator().manual_seed(2)
    w = torch.randn(2 * 65536 + 37, 16, generator=g)  # vocabulary-sized: more rows than any block
    x = torch.randn(rows, 1, 16, generator=g)
    want = linear(x, w)
    packs = K.PackedWeights(1 << 30)
    with K.DecodeKernels(K.onednn_linear(), packs):
        got = linear(x, w)
    assert packs.bytes == w.numel() * 4  # the packed copy was used
    assert got.shape == want.shape and got.is_contiguous()  # a strided view made later ops copy
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-5)
    with K.DecodeKernels(K.onednn_linear(), K.PackedWeights(0)):  # no budget: the plain weight
        plain = linear(x, w)
    assert torch.equal(got, plain)


@needs_onednn
@pytest.mark.parametrize("shape,rows,bias", [((1024, 640), 8, False), ((640, 2048), 6, True),
                                             ((256, 640), 3, True), ((96, 64), 64, False)])
def test_packed_products_equal_plain_onednn_products_bit_for_bit(shape, rows, bias):
    g = torch.Generator().manual_seed(3)
    w = torch.randn(*shape, generator=g)
    x = torch.randn(rows, shape[1], generator=g)
    b = torch.randn(shape[0], generator=g) if bias else None
    packed = K.PackedWeights(1 << 30).get(w)
    assert packed is not None
    op = K.onednn_linear()
    assert torch.equal(op(x, packed, b, "none", [], ""), op(x, w, b, "none", [], ""))


@needs_onednn
def test_packed_copies_are_made_once_within_the_budget_and_follow_their_weight():
    g = torch.Generator().manual_seed(4)
    small, big = torch.randn(64, 32, generator=g), torch.randn(512, 32, generator=g)
    packs = K.PackedWeights(big.numel() * 4)  # room for one of the two
    first = packs.get(small)
    assert first is not None and packs.get(small) is first  # made once, then kept
    assert packs.get(big) is None and packs.bytes == small.numel() * 4  # over the budget: unpacked
    small.mul_(2.0)  # an in-place change: the old copy is stale
    again = packs.get(small)
    assert again is not None and again is not first and packs.bytes == small.numel() * 4
    x = torch.randn(3, 32, generator=g)
    op = K.onednn_linear()
    assert torch.equal(op(x, again, None, "none", [], ""), op(x, small, None, "none", [], ""))
    del small, first, again
    gc.collect()
    assert packs.bytes == 0  # the weight died: its copy went with it
    assert packs.get(big) is not None  # and the budget is free again
    with torch.inference_mode():
        frozen = torch.randn(64, 32)
    assert packs.get(frozen) is None  # no version counter: an in-place change would go unseen
    packs.clear()
    assert packs.bytes == 0


def test_off_the_cpu_the_mode_is_a_no_op():
    assert not isinstance(K.decode_kernels("meta"), K.DecodeKernels)


@needs_onednn
def test_another_threads_products_are_untouched_while_one_thread_decodes():
    g = torch.Generator().manual_seed(1)
    w, x = torch.randn(2048, 640, generator=g), torch.randn(3, 640, generator=g)
    want = linear(x, w)  # MKL's own product, bit for bit
    seen = {}
    with K.decode_kernels("cpu"):
        worker = threading.Thread(target=lambda: seen.update(out=linear(x, w)))
        worker.start()
        worker.join()
        mine = linear(x, w)
    assert not torch.equal(mine, want)  # rerouted in this thread: another rounding, so this test can fail
    assert torch.equal(seen["out"], want)  # the other thread kept PyTorch's own product


@pytest.fixture(scope="module")
def tiny(tiny_model):
    return tiny_model("llama")


def test_only_the_local_loop_uses_them(tiny, monkeypatch):
    used: list[str] = []
    real = generation.decode_kernels

    def spy(device):
        used.append(str(device))
        return real(device)

    monkeypatch.setattr(generation, "decode_kernels", spy)
    prompts = ["The capital of France is", "Hola"]
    local = generate_ids(tiny, prompts, max_new_tokens=4)
    assert used == ["cpu"]
    dry = generate_ids(tiny.variant("local"), prompts, max_new_tokens=4)
    assert used == ["cpu"]  # the remote loop runs inside the trace, on plain modules
    assert dry == local
