"""AppTest: a page opens from the demo bundle (and says so), recomputes live on one click, and
opens before its model has loaded (a stand-in with the bundle's facts while it loads)."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from app.registry import ROOT
from hubcore import demo_bundle

from .test_lens_page import chart_data

MAIN = str(ROOT / "app" / "main.py")
LENS = str(ROOT / "pages" / "logit_lens.py")
pytestmark = [pytest.mark.usefixtures("fresh_streamlit"), pytest.mark.default_model]


def open_lens() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=240).run()
    at.switch_page(LENS).run()
    assert not at.exception, at.exception
    return at


def test_the_page_opens_from_the_bundle_and_recomputes_live(default_model, own_bundle_and_estimates):
    lines = demo_bundle.build(root=own_bundle_and_estimates, only={"lens"}, load=lambda kind: default_model)
    assert lines[0].startswith("bundled lens")
    at = open_lens()
    said = [c.value for c in at.caption if "Opened from the demo bundle" in c.value]
    assert len(said) == 1 and "computed 20" in said[0] and "live it took" in said[0]
    bundled = chart_data(at, 0)
    (live,) = [b for b in at.button if str(b.key).startswith("live-")]
    live.click().run()
    assert not at.exception, at.exception
    assert not [c for c in at.caption if "Opened from the demo bundle" in c.value]
    assert chart_data(at, 0) == bundled  # the live result is the bundled one


def test_without_a_matching_call_the_page_computes_live(default_model, own_bundle_and_estimates):
    demo_bundle.build(root=own_bundle_and_estimates, only={"lens"}, load=lambda kind: default_model)
    at = open_lens()
    at.text_area(key="lens_text").set_value("Bonjour, comment allez-")
    at.button[0].click().run()
    assert not [c for c in at.caption if "Opened from the demo bundle" in c.value]
    assert "Bonjour" in {row["input_token"] for row in chart_data(at, 0)}


def test_a_page_opens_from_the_bundle_before_its_model_has_loaded(default_model, own_bundle_and_estimates,
                                                                  monkeypatch):
    import app.widgets as widgets

    demo_bundle.build(root=own_bundle_and_estimates, only={"lens"}, load=lambda kind: default_model)
    loads = []
    monkeypatch.setattr(widgets, "is_loaded", lambda spec: False)  # as in a server just started
    monkeypatch.setattr(widgets, "get_model", lambda spec, progress=None: loads.append(spec) or default_model)
    monkeypatch.setattr(widgets, "_preloads", set())
    at = open_lens()
    assert any("Opened from the demo bundle" in c.value for c in at.caption)
    card = " ".join(m.value for m in at.sidebar.markdown)
    assert "gemma3_text" in card and "18 blocks" in card  # the card the bundle recorded
    assert any("Loading in the background" in c.value for c in at.sidebar.caption)
    assert len(at.get("vega_lite_chart")) == 2
    for _ in range(100):  # the real model is being loaded meanwhile, once
        if loads:
            break
        time.sleep(0.05)
    assert len(loads) == 1


def test_the_steering_page_opens_its_side_by_side_from_the_bundle(default_model, own_bundle_and_estimates,
                                                                  monkeypatch):
    """Issue 14: every page that computes on open is in the bundle; the Steering page's side by
    side (3 columns x 2 seeds) opens from it without generating anything."""
    import app.running as running

    lines = demo_bundle.build(root=own_bundle_and_estimates, only={"sweep"}, load=lambda kind: default_model)
    assert lines[0].startswith("bundled sweep")
    started = []
    monkeypatch.setattr(running, "start", lambda *a, **k: started.append(a) or pytest.fail("computed live"))
    at = AppTest.from_file(MAIN, default_timeout=240).run()
    at.switch_page(str(ROOT / "pages" / "steering.py")).run()
    assert not at.exception, at.exception
    assert any("Opened from the demo bundle" in c.value for c in at.caption)
    cards = " ".join(m.value for m in at.markdown if "steer-gen" in m.value)
    assert cards.count('data-state="done"') == 6 and not started
