"""Generated text on the Steering page: escaped (markup never renders, control characters as
visible symbols) and the words that differ from the unsteered text marked."""

from __future__ import annotations

import html

from hypothesis import given, strategies as st

from app.generated_text import changed_words, diff_html, escape, visible, words


def _plain(markup: str) -> str:
    """What a browser shows for our HTML: <br> breaks, <mark> dropped, references decoded."""
    return html.unescape(markup.replace("<br>", "\n").replace("<mark>", "").replace("</mark>", ""))


def test_control_characters_become_visible_symbols():
    assert visible("a\x10b\x00c\x7fd\te") == "a␐b␀c␡d␉e"
    assert visible("x\ny") == "x↵\ny"
    assert visible("\x85 \u202eevil") == "⟨U+0085⟩ ⟨U+202E⟩evil"
    assert visible("Señor 好 😀") == "Señor 好 😀"


def test_markup_and_markdown_are_escaped_never_rendered():
    shown = escape("<strong>hola</u> **b** $x$ :red[y] [l](http://e) &amp;\x10")
    assert "<" not in shown.replace("<br>", "") and "*" not in shown and "$" not in shown
    assert _plain(shown) == "<strong>hola</u> **b** $x$ :red[y] [l](http://e) &amp;␐"
    assert escape("a\nb") == "a↵<br>b"


def test_changed_words_marks_what_differs_from_the_reference():
    marked = [w for w, d in changed_words("la comida es buena y barata", "la comida es mala y barata") if d]
    assert marked == ["mala"]
    # insertions are marked, white space is not a word
    segs = changed_words("Hola amigo", "Hola mi querido amigo")
    assert [w for w, d in segs if d] == ["mi", "querido"]
    assert all(not d for w, d in changed_words("same text", "same text"))
    # Chinese: one character, one word
    assert [w for w, d in changed_words("这家酒店很好", "这家酒店很坏") if d] == ["坏"]


def test_diff_html_escapes_inside_and_outside_marks():
    out = diff_html("a <b> c", "a <i> c\x10")
    assert "<mark>&#60;</mark>" not in out  # "<" matched the reference's "<"
    assert "<mark>i</mark>" in out and "<mark>␐</mark>" in out
    assert _plain(out) == "a <i> c␐"


@given(st.text(max_size=60), st.text(max_size=60))
def test_round_trip_shows_every_character(reference, text):
    assert "".join(words(text)) == text
    shown = _plain(diff_html(reference, text))
    assert shown == visible(text)
    assert "<" not in diff_html(reference, text).replace("<br>", "").replace("<mark>", "").replace("</mark>", "")
