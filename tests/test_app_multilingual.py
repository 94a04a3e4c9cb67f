"""AppTest: the Multilingual page."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app.registry import ROOT

MAIN = str(ROOT / "app" / "main.py")


pytestmark = pytest.mark.usefixtures("fresh_streamlit")


def _app() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=30)
    return at


MULTI = str(ROOT / "pages" / "multilingual.py")


@pytest.mark.default_model
def test_multilingual_page_similarity_tab_runs(default_model):
    at = _app().run()
    at.switch_page(MULTI).run(timeout=300)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("vega_lite_chart")) == 2  # similarity + retrieval; other tabs wait for a click
    assert any("Run anchoring" in i.value for i in at.info)


@pytest.mark.default_model
def test_multilingual_language_tab_runs_on_click(default_model):
    at = _app().run()
    at.switch_page(MULTI).run(timeout=300)
    at.selectbox(key="lang_set").set_value("German–English (handwritten)")
    at.number_input(key="lang_n").set_value(2)
    next(b for b in at.button if b.label == "Run language probability").click()
    at.run(timeout=300)
    assert not at.exception, at.exception
    assert len(at.get("vega_lite_chart")) == 3
    assert any("Each bar splits" in c.value for c in at.caption)


def test_upload_error_is_a_message_not_a_traceback():
    """The shared upload parser's errors reach the user as one sentence."""
    from hubcore.data.uploads import parse_pairs
    from hubcore.errors import InputError

    with pytest.raises(InputError, match="Line 2 of bad.tsv has 1 column"):
        parse_pairs(b"a\tb\nonly-one-column\n", "bad.tsv")
