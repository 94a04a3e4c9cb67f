"""Generated text as safe HTML: escaped, with control characters as visible symbols and the words
that differ from a reference (the unsteered text) marked.

A model writes whatever its tokens spell: HTML tags ("<strong>…</u>"), raw control bytes
("\\x10"), right-to-left overrides. Shown as they are, tags render and control characters vanish
or reorder the line, so the reader sees something other than what was generated. Here every
character is shown as itself: markup is escaped (and so never rendered), a control character
becomes its Unicode "control picture" (U+2400 block), a line break shows as "↵" and then breaks.
Pure functions: the page draws their output with `st.markdown(..., unsafe_allow_html=True)`.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

NEWLINE = "↵"
# bidirectional overrides and isolates reorder the text around them: shown by code point
BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
# one CJK/kana/hangul character is one word (those scripts write no spaces); else runs of word
# characters, runs of white space, and every other character on its own
WORD = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]|\w+|\s+|[^\w\s]")
# HTML's own characters, and those that mean something to Markdown (or Streamlit's :color[] and
# $math$ syntax), as character references: nothing in the text can become markup or formatting
LITERAL = str.maketrans({c: f"&#{ord(c)};" for c in "&<>\"'\\`*_{}[]()#+-.!|~:$"})


def visible(text: str) -> str:
    """`text` with every control character as a visible symbol ("\\x10" -> "␐", "\\x7f" -> "␡",
    C1 controls and bidi overrides as "⟨U+0085⟩"); a newline becomes "↵" plus the newline."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch == "\n":
            out.append(NEWLINE + "\n")
        elif code < 0x20:
            out.append(chr(0x2400 + code))
        elif code == 0x7F:
            out.append("\u2421")
        elif 0x80 <= code < 0xA0 or ch in BIDI_CONTROLS:
            out.append(f"⟨U+{code:04X}⟩")
        else:
            out.append(ch)
    return "".join(out)


def escape(text: str) -> str:
    """`visible(text)` as HTML that renders literally: markup escaped, line breaks as <br>."""
    return visible(text).translate(LITERAL).replace("\n", "<br>")


def words(text: str) -> list[str]:
    """`text` split into words, white-space runs and single other characters (joined back, equal
    to `text`)."""
    return WORD.findall(text)


def changed_words(reference: str, text: str) -> list[tuple[str, bool]]:
    """`text` as (piece, differs) segments: a word differs when the word-level alignment of `text`
    with `reference` (difflib, white space ignored) does not match it to the same word there."""
    pieces = words(text)
    mine = [i for i, p in enumerate(pieces) if not p.isspace()]
    theirs = [p for p in words(reference) if not p.isspace()]
    matcher = SequenceMatcher(None, theirs, [pieces[i] for i in mine], autojunk=False)
    differs = [False] * len(pieces)
    for tag, _, _, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            for j in range(j1, j2):
                differs[mine[j]] = True
    return list(zip(pieces, differs))


def diff_html(reference: str, text: str) -> str:
    """`escape(text)` with the words that differ from `reference` in <mark> elements."""
    out = []
    for piece, differs in changed_words(reference, text):
        shown = escape(piece)
        out.append(f"<mark>{shown}</mark>" if differs else shown)
    return "".join(out)
