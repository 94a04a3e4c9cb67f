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


@pytest.mark.default_model
def test_multilingual_page_reproduce_and_url_name_the_built_in_set(default_model):
    at = _app().run()
    at.switch_page(MULTI).run(timeout=300)
    assert not at.exception, at.exception
    commands = [c.value for c in at.code]
    assert ("python -m hubcore similarity --pairs 'Chinese–English (HSK sentences)' --template-a "
            "'{} 这代表' --template-b '{} This represents' --max-pairs 100 --out similarity.csv") in commands
    assert at.query_params["pairs"] == "Chinese–English (HSK sentences)"
    assert at.query_params["tab"] == "Similarity"
    assert any("Sampled 100 of" in c.value for c in at.caption)


@pytest.mark.default_model
def test_multilingual_link_opens_and_runs_its_tab(default_model):
    """A shared link names the tab and its (prefixed) parameters: the run happens on opening."""
    at = AppTest.from_file(MULTI, default_timeout=300)
    at.query_params.update({"tab": "Anchoring", "anchoring.texts": "Spanish–English (handwritten)",
                            "anchoring.max_texts": "8", "anchoring.raw": "1"})
    at.run(timeout=300)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    # an unknown set name (a file from someone else's machine) opens on the upload, the rest stays
    assert at.selectbox(key="anc_set").value.startswith("Upload")
    assert any("Spanish–English (handwritten)" in i.value and "upload it again" in i.value for i in at.info)
    at.selectbox(key="anc_set").set_value("Chinese–English (HSK sentences)").run(timeout=300)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.number_input(key="anc_n").value == 8 and at.toggle(key="anc_raw").value
    commands = [c.value for c in at.code]
    assert ("python -m hubcore anchoring --texts 'Chinese–English (HSK sentences)' --lang zh --raw "
            "--max-texts 8 --out anchoring.csv") in commands
    assert len(at.get("vega_lite_chart")) == 4  # similarity + retrieval, anchoring + difference
