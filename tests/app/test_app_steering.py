"""AppTest: the Steering page (side by side into a session history, sweeps, a missing scorer)."""

from __future__ import annotations

import html
import math
import re

import pytest
from streamlit.testing.v1 import AppTest

from app.generated_text import diff_html, escape
from app.registry import ROOT

MAIN = str(ROOT / "app" / "main.py")
STEER = str(ROOT / "pages" / "steering.py")
CARD = re.compile(r'<div class="steer-gen" data-state="(\w+)".*?<div class="steer-meta"[^>]*>(.*?)</div>'
                  r'<div class="steer-text"[^>]*>(.*)</div></div>$', re.S)

pytestmark = pytest.mark.usefixtures("fresh_streamlit")


def _page() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=30).run()
    at.switch_page(STEER)
    at.session_state["st_seeds"] = 1
    at.session_state["st_new"] = 6
    at.session_state["st_greedy"] = True
    return at


def _heads(at: AppTest) -> list[str]:
    return [html.unescape(re.sub(r"<[^>]+>", "", m.value)) for m in at.markdown
            if m.value.startswith('<div class="steer-head"')]


def _cards(at: AppTest) -> list[tuple[str, str, str]]:
    """(state, meta, text markup) of every generation shown."""
    return [CARD.match(m.value).groups() for m in at.markdown if m.value.startswith('<div class="steer-gen"')]


def _history(at: AppTest):
    return at.session_state["steering_history"]


@pytest.mark.default_model
def test_side_by_side_runs_go_into_a_history_that_pins_and_exports(default_model):
    at = _page().run(timeout=300)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert _heads(at) == ["Unsteered", "Steered with es: Bueno − Malo", "Steered with en: Good − Bad"]
    first = _cards(at)
    assert [c[0] for c in first] == ["done"] * 3
    [run] = _history(at)
    assert (run.layer, run.coef, run.seeds) == (9, 5.0, (0,))
    # every text shown is the generated text escaped, steered words marked against the unsteered
    base = run.row("unsteered", 0).continuation
    assert first[0][2] == escape(base)
    for (_, meta, markup), pair in zip(first[1:], run.pairs):
        row = run.row(pair, 0)
        assert markup == diff_html(base, row.continuation)
        assert meta == escape(f"seed 0 · sentiment {row.sentiment:+.2f} · perplexity {row.perplexity:.1f} · "
                              f"in Spanish {row.in_language:.0%}")

    # a strong negative coefficient: a second run; the unsteered column does not move
    at.slider(key="st_coef").set_value(-40.0).run(timeout=300)
    assert not at.exception, at.exception
    second = _cards(at)
    assert second[0] == first[0] and [c[2] for c in second[1:]] != [c[2] for c in first[1:]]
    assert [(r.number, r.coef) for r in _history(at)] == [(1, 5.0), (2, -40.0)]
    overview = at.dataframe[0].value
    assert list(overview["run"]) == [2, 1] and list(overview["coefficient"]) == [-40.0, 5.0]

    # pin both: each pinned run shows its own generations again, side by side
    at.multiselect(key="st_pinned").set_value([2, 1]).run(timeout=300)
    assert not at.exception, at.exception
    heads = _heads(at)
    assert "Run #2 · layer 9 · coefficient -40" in heads and "Run #1 · layer 9 · coefficient 5" in heads
    pinned = [c[2] for c in _cards(at)[3:]]
    assert pinned == [c[2] for c in second] + [c[2] for c in first]
    # the export: one row per (run, column, seed), with the settings
    frame = _history_frame(at)
    assert len(frame) == 6 and set(frame.run) == {1, 2}
    assert set(frame[frame.pair == "unsteered"].coef) == {0.0} and set(frame.max_new_tokens) == {6}
    assert [b.proto.label for b in at.get("download_button")].count("Download CSV") == 2  # run + history

    # coefficient 0: only the unsteered column, and it is run 1's unsteered text
    at.slider(key="st_coef").set_value(0.0).run(timeout=300)
    assert _heads(at)[0] == "Unsteered (coefficient 0)" and _cards(at)[0][2] == first[0][2]

    # the sweep runs on click and names a best setting only when its CI is apart from unsteered
    at.session_state["st_n"] = 2
    at.text_input(key="st_coefs").set_value("-8, 0, 8")
    next(b for b in at.button if b.label == "Run sweep").click().run(timeout=300)
    assert not at.exception, at.exception
    assert len(at.get("vega_lite_chart")) >= 1
    lines = [i.value for i in at.info] + [s.value for s in at.success]
    assert len([t for t in lines if "towards positive" in t or "positive shift" in t
                or "No positive setting" in t]) == 1
    assert not any(t.startswith("Largest") and "95% CIs apart" not in t for t in lines)


def _history_frame(at: AppTest):
    from app.steering_view import History

    return History({"steering_history": _history(at)}).frame()


@pytest.mark.default_model
def test_missing_scorer_data_keeps_the_generations_and_says_so_once(default_model, tmp_path, monkeypatch):
    from hubcore.scoring import lexicon

    lexicon.load_lexicon.cache_clear()
    monkeypatch.setenv("HUBCORE_DATA_DIR", str(tmp_path))  # empty: the Spanish lexicon is missing
    try:
        at = _page().run(timeout=300)
    finally:
        monkeypatch.undo()
        lexicon.load_lexicon.cache_clear()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    warnings = [w.value for w in at.warning if "Sentiment not scored" in w.value]
    assert len(warnings) == 1 and "install-data.sh" in warnings[0]
    cards = _cards(at)
    assert len(cards) == 3 and all("sentiment —" in meta for _, meta, _ in cards)
    assert all(text.strip() for _, _, text in cards)
    frame = _history_frame(at)
    assert frame.sentiment.map(math.isnan).all() and (frame.perplexity > 0).all()
