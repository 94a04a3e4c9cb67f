"""Shared fixtures: the real default model (loaded once per session) and tiny random models.

Tiny models are built in-process from configs (tests/support/tiny_models.py), never downloaded. Their
normalisation weights are perturbed (seeded) before wrapping: at random init every norm has unit
gain and zero bias, which makes a norm nearly idempotent (norm(norm(x)) ~ norm(x)), so a test
could not tell "normed once" from "normed twice". With random gains it can.
"""

from __future__ import annotations

import os
from typing import Callable

import pytest
import torch

from hubcore.models import HubModel, ModelSpec, get_model, wrap_model
from hubcore.models import memo
from tests.support.tiny_models import build_tiny_model, build_tiny_tokenizer, perturb_norms


def pytest_configure(config: pytest.Config) -> None:
    # On a busy 2-core machine two OpenMP threads stall each other at every barrier (measured:
    # one Gemma-3-270M forward 0.1 s with 1 thread, 0.3-2.3 s with 2 while another process ran).
    # Results do not depend on it; set HUBCORE_TEST_THREADS to use more.
    torch.set_num_threads(int(os.environ.get("HUBCORE_TEST_THREADS", "1")))
    config.addinivalue_line("markers", "default_model: uses the embedded Gemma-3-270M")
    config.addinivalue_line("markers", "browser: drives Debian Chromium against a real streamlit server")


@pytest.fixture(autouse=True)
def nothing_remembered() -> None:
    """Every test starts without values remembered by an earlier one (`models.memo`: unsteered
    rows, perplexities): a test's results must not depend on which tests ran before it."""
    memo.forget_all()


@pytest.fixture(scope="session")
def default_model() -> HubModel:
    """The embedded Gemma-3-270M, loaded once per test session (through the shared registry)."""
    return get_model(ModelSpec())


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return build_tiny_tokenizer()


@pytest.fixture(scope="session")
def tiny_model(tiny_tokenizer) -> Callable[..., HubModel]:
    """Factory: `tiny_model(family)` -> a wrapped tiny random HubModel (cached per family)."""
    cache: dict[tuple[str, bool], HubModel] = {}

    def make(family: str, perturb: bool = True) -> HubModel:
        key = (family, perturb)
        if key not in cache:
            hf = build_tiny_model(family, len(tiny_tokenizer))
            if perturb:
                perturb_norms(hf)
            cache[key] = wrap_model(hf, tiny_tokenizer, name=f"tiny-{family}")
        return cache[key]

    return make


@pytest.fixture
def fresh_streamlit():
    """AppTest isolation: empty Streamlit caches and the app's result cache before each test."""
    import streamlit as st

    from app.widgets import clear_results

    st.cache_data.clear()
    st.cache_resource.clear()
    clear_results()
    yield
