"""`models.memo.ModelMemo`: values kept per loaded model, local runs only, least recently used
dropped first, gone with the model."""

from __future__ import annotations

import gc
import weakref

from hubcore.models.memo import ModelMemo, forget_all


class Model:
    def __init__(self, remote: str = "off") -> None:
        self.remote = remote


def test_values_are_kept_per_model_and_the_least_recently_used_goes_first():
    memo, a, b = ModelMemo(2), Model(), Model()
    memo.remember(a, "x", 1)
    memo.remember(a, "y", 2)
    memo.remember(b, "x", 10)
    assert memo.recall(a, "x") == 1 and memo.recall(b, "x") == 10 and memo.recall(b, "y") is None
    memo.remember(a, "z", 3)  # "x" was recalled last, so "y" goes
    assert memo.recall(a, "y") is None and memo.recall(a, "x") == 1 and memo.recall(a, "z") == 3
    memo.forget(a)
    assert memo.recall(a, "x") is None and memo.recall(b, "x") == 10
    forget_all()
    assert memo.recall(b, "x") is None


def test_a_remote_run_neither_keeps_nor_recalls():
    memo, remote = ModelMemo(4), Model("local")
    memo.remember(remote, "x", 1)
    assert memo.recall(remote, "x") is None
    local = Model()
    memo.remember(local, "x", 1)
    assert memo.recall(Model("ndif"), "x") is None


def test_the_memo_does_not_keep_a_dropped_model_alive():
    memo, model = ModelMemo(4), Model()
    memo.remember(model, "x", [0] * 1000)
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None  # weak keys: a reloaded model does not pin the old one in memory
