"""App tests run against their own demo bundle and run-time measurements (none unless a test
makes them), never the user's cache directory: what a page shows must not depend on it."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def own_bundle_and_estimates(tmp_path, monkeypatch):
    import hubcore.demo_bundle
    import hubcore.estimates

    monkeypatch.setattr(hubcore.demo_bundle, "cache_root", lambda: tmp_path)
    monkeypatch.setattr(hubcore.estimates, "cache_root", lambda: tmp_path)
    yield tmp_path
