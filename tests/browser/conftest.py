"""Browser tests of the UX work run a server on their own cache directory: the embedded models
linked in from the real cache (no reconversion), but their own demo bundle and run-time
measurements, so what they see never depends on the user's."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hubcore.cache import cache_root
from tests.support.browser import ARTIFACTS, streamlit_server


def linked_cache(target: Path) -> Path:
    """A cache directory whose model entries are links to the real ones."""
    target.mkdir(parents=True, exist_ok=True)
    real = cache_root()
    for entry in real.iterdir():
        if entry.is_dir() and not entry.name.startswith(".") and entry.name != "demo-bundle":
            link = target / entry.name
            if not link.exists():
                link.symlink_to(entry)
    return target


@pytest.fixture(scope="module")
def own_cache(tmp_path_factory, default_model):  # default_model: converted before the link
    path = linked_cache(tmp_path_factory.mktemp("cache"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HUBCORE_CACHE_DIR", str(path))  # the server subprocess inherits it
        yield path


def seed_costs(root: Path, experiment: str, spec, runs: list[tuple[float, float]]) -> None:
    """Pretend earlier runs of `experiment` took these (units, seconds) on this machine."""
    from hubcore.estimates import FILE, spec_identity

    path = root / FILE
    data = json.loads(path.read_text()) if path.exists() else {}
    data[f"{experiment} @ {spec_identity(spec)}"] = [list(r) for r in runs]
    path.write_text(json.dumps(data))
    os.utime(path)


@pytest.fixture(scope="module")
def server(default_model):  # default_model: the cache is converted before the server starts
    """A `streamlit run` server on the real cache, one per test module (a module that needs its own
    cache or set-up defines its own `server`)."""
    ARTIFACTS.mkdir(exist_ok=True)
    with streamlit_server() as url:
        yield url
