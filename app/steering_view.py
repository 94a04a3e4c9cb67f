"""The Steering page's side by side as a lab instrument.

- Live columns: one placeholder per (column, seed). A re-run first shows the previous run there,
  dimmed, then each continuation token by token as the batch decodes (all columns advance
  together), then the final text with its scores. So coefficient 5 stays on screen while 20 runs.
- A channel per session: runs compute on a worker thread (`app.running`) that can outlive the
  script run that started them, so a run streams to the channel, which draws into whichever
  live view the session shows now (and drops text of a run the page no longer shows).
- The session's run history: every run (layer, coefficient, pairs, seeds, outputs, scores) kept
  in session state, listed, pinnable side by side and exported as one CSV.

Generated text always goes through `app.generated_text` (escaped, control characters visible,
the words that differ from the unsteered text of the same seed marked).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, Callable, Hashable, MutableMapping, Optional, Sequence

import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from app.generated_text import diff_html, escape
from hubcore.experiments.actadd import default_instruction

UNSTEERED = "unsteered"
HISTORY_KEY = "steering_history"
MAX_PINNED = 4
SCORE_COLUMNS = ("sentiment", "perplexity", "relevance", "in_language", "new_tokens")
HISTORY_COLUMNS = ("run", "prompt", "layer", "coef", "pair", "seed", "continuation", *SCORE_COLUMNS)
CURSOR = '<span style="color:#9ca3af">▍</span>'


@dataclass(frozen=True)
class Column:
    """One column of the side by side: the unsteered text or one steering pair's."""

    key: str  # UNSTEERED or the pair's label
    title: str


def columns_for(pairs: Sequence[str], coef: float) -> list[Column]:
    """Unsteered first, then one column per pair (coefficient 0: the unsteered column alone)."""
    if coef == 0:
        return [Column(UNSTEERED, "Unsteered (coefficient 0)")]
    return [Column(UNSTEERED, "Unsteered")] + [Column(p, f"Steered with {p}") for p in pairs]


@dataclass
class Run:
    """One side-by-side run as the history keeps it."""

    number: int
    key: Hashable  # what identifies the computation (same key = same run)
    prompt: str
    layer: int
    coef: float
    pairs: tuple[str, ...]
    seeds: tuple[int, ...]
    settings: dict[str, Any]  # language, instruction, sampling settings: exported beside the rows
    rows: pd.DataFrame  # one row per (column, seed): column, seed, continuation, scores

    @property
    def label(self) -> str:
        return f"#{self.number} · layer {self.layer} · coefficient {self.coef:g}"

    @property
    def columns(self) -> list[Column]:
        return columns_for(self.pairs, self.coef)

    def row(self, column: str, seed: int) -> Optional[Any]:
        hit = self.rows[(self.rows.column == column) & (self.rows.seed == seed)]
        return None if hit.empty else hit.iloc[0]

    def text_html(self, column: str, seed: int) -> Optional[str]:
        """The continuation as HTML, the words that differ from the unsteered one marked."""
        row = self.row(column, seed)
        if row is None:
            return None
        base = self.row(UNSTEERED, seed)
        if column == UNSTEERED or base is None:
            return escape(row.continuation)
        return diff_html(base.continuation, row.continuation)


def run_from_rows(rows: pd.DataFrame, number: int, key: Hashable, prompt: str, layer: int, coef: float,
                  pairs: Sequence[str], seeds: Sequence[int], settings: dict[str, Any]) -> Run:
    """A `Run` from a steer result's `rows` (whose unsteered rows repeat once per pair)."""
    parts = [rows[(rows.coef == 0) & (rows.pair == pairs[0])].assign(column=UNSTEERED)]
    if coef != 0:
        parts += [rows[(rows.coef == coef) & (rows.pair == p)].assign(column=p) for p in pairs]
    kept = pd.concat(parts)[["column", "seed", "continuation", *SCORE_COLUMNS]].reset_index(drop=True)
    return Run(number, key, prompt, int(layer), float(coef), tuple(pairs), tuple(int(s) for s in seeds),
               dict(settings), kept)


def settings_of(kwargs: dict[str, Any]) -> dict[str, Any]:
    """What a run's CSV rows carry besides the text: language, instruction, sampling settings."""
    g, lang = kwargs["generation"], kwargs["lang"]
    instruction = default_instruction(lang) if kwargs["instruction"] is None else kwargs["instruction"]
    return {"lang": lang, "instruction": instruction, "max_new_tokens": g.max_new_tokens, "greedy": g.greedy,
            "temperature": g.temperature, "top_p": g.top_p, "frequency_penalty": g.frequency_penalty,
            "norm_preserving": kwargs["norm_preserving"]}


def shows(result: Any, prompt: str, layer: int, coef: float, pairs: Sequence[str]) -> bool:
    """Whether a steer result is the run these settings ask for (a stopped run hands back the
    previous result, which must not be filed under the new settings)."""
    rows = result.rows
    return (list(result.layers) == [int(layer)] and list(result.pairs) == list(pairs)
            and set(rows.prompt) == {prompt} and bool((rows.coef == float(coef)).any()))


class History:
    """The session's runs, oldest first, one per distinct computation."""

    def __init__(self, state: MutableMapping[str, Any]) -> None:
        self.runs: list[Run] = state.setdefault(HISTORY_KEY, [])

    @property
    def latest(self) -> Optional[Run]:
        return self.runs[-1] if self.runs else None

    def record(self, key: Hashable, make: Callable[[int], Run]) -> Run:
        """The run with `key` (moved to the end: it is the one shown), else `make(number)` added."""
        for i, run in enumerate(self.runs):
            if run.key == key:
                self.runs.append(self.runs.pop(i))
                return run
        run = make(max((r.number for r in self.runs), default=0) + 1)
        self.runs.append(run)
        return run

    def find(self, number: int) -> Optional[Run]:
        return next((r for r in self.runs if r.number == number), None)

    def frame(self) -> pd.DataFrame:
        """Every run's rows (run number order), with its settings: the history's CSV."""
        parts = []
        for run in sorted(self.runs, key=lambda r: r.number):
            df = run.rows.rename(columns={"column": "pair"})
            df.insert(0, "run", run.number)
            df.insert(1, "prompt", run.prompt)
            df.insert(2, "layer", run.layer)
            df.insert(3, "coef", [0.0 if c == UNSTEERED else run.coef for c in df.pair])
            parts.append(df.assign(**run.settings))
        if not parts:
            return pd.DataFrame(columns=HISTORY_COLUMNS)
        return pd.concat(parts, ignore_index=True)

    def overview(self) -> pd.DataFrame:
        """One line per run (newest first): settings and mean sentiment per column."""
        lines = []
        for run in reversed(self.runs):
            means = run.rows.groupby("column", sort=False).sentiment.mean()
            lines.append({"run": run.number, "layer": run.layer, "coefficient": run.coef,
                          "pairs": " | ".join(run.pairs), "seeds": len(run.seeds), "prompt": run.prompt,
                          "mean sentiment": " · ".join(f"{c}: {score_text(v)}" for c, v in means.items())})
        return pd.DataFrame(lines)


def score_text(value: float, fmt: str = "+.2f") -> str:
    """A score, or "—" where it is missing (a scorer that could not run, an empty text)."""
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)


def scores_line(row: Any, lang_name: str) -> str:
    in_lang = "—" if math.isnan(row.in_language) else f"{row.in_language:.0%}"
    return (f"seed {row.seed} · sentiment {score_text(row.sentiment)} · perplexity "
            f"{score_text(row.perplexity, '.1f')} · in {lang_name} {in_lang}")


def card(text_html: str, meta: str, state: str) -> str:
    """One generation: a small meta line over the text. `state`: previous (dimmed), live, done."""
    dim = "opacity:0.4;" if state == "previous" else ""
    return (f'<div class="steer-gen" data-state="{state}" style="{dim}margin-bottom:0.6rem">'
            f'<div class="steer-meta" style="font-size:0.8rem;color:#6b7280">{escape(meta)}</div>'
            '<div class="steer-text" style="font-family:ui-monospace,monospace;font-size:0.88rem;'
            'line-height:1.5;padding:0.35rem 0.5rem;border:1px solid rgba(128,128,128,0.3);'
            f'border-radius:0.4rem;overflow-wrap:anywhere">{text_html}</div></div>')


def heading(title: str) -> str:
    return f'<div class="steer-head" style="font-weight:600;margin-bottom:0.3rem">{escape(title)}</div>'


def show(slot: Any, markup: str) -> None:
    slot.markdown(markup, unsafe_allow_html=True)


def prompt_line(prompt: str) -> None:
    """The prompt every column continues (escaped like the generations)."""
    show(st, '<div class="steer-prompt" style="font-size:0.9rem;margin-bottom:0.5rem">Prompt: '
             f'<span style="font-family:ui-monospace,monospace">{escape(prompt)}▸</span> <span style='
             '"color:#6b7280">· words that differ from the unsteered text of the same seed are '
             '<mark>marked</mark></span></div>')


class SideBySide:
    """The live columns of the run being computed (see the module docstring)."""

    def __init__(self, columns: Sequence[Column], seeds: Sequence[int], previous: Optional[Run],
                 lang_name: str) -> None:
        self.lang_name = lang_name
        self.slots: dict[tuple[str, int], Any] = {}
        for col, column in zip(st.columns(len(columns)), columns):
            show(col, heading(column.title))
            for seed in seeds:
                before = previous.text_html(column.key, seed) if previous is not None else None
                if before is None:
                    first = card(CURSOR, f"seed {seed} · waiting for the model…", "previous")
                else:
                    first = card(before, f"seed {seed} · still run {previous.label}: updating…", "previous")
                # the card itself is the slot later writes replace: an `st.empty()` first would
                # blank the column on screen for a frame at every rerun, before its card arrives
                self.slots[(column.key, seed)] = col.markdown(first, unsafe_allow_html=True)

    def stream(self, partials: Sequence[Any]) -> None:
        """Draw every row's text so far (`hubcore.experiments.actadd.Partial`s of one step)."""
        base = {p.seed: p.text for p in partials if p.pair is None}
        for p in partials:
            key = UNSTEERED if p.pair is None else p.pair
            slot = self.slots.get((key, p.seed))
            if slot is None:
                continue
            body = escape(p.text) if p.pair is None else diff_html(base.get(p.seed, ""), p.text)
            show(slot, card(body + CURSOR, f"seed {p.seed} · generating: {p.new_tokens} tokens", "live"))

    def finish(self, run: Run) -> None:
        """The run's final texts with their scores."""
        for (key, seed), slot in self.slots.items():
            row = run.row(key, seed)
            if row is not None:
                show(slot, card(run.text_html(key, seed) or "", scores_line(row, self.lang_name), "done"))


class Channel:
    """Where a session's side-by-side runs stream to (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: Hashable = None
        self._view: Optional[SideBySide] = None
        self._ctx: Any = None

    @classmethod
    def of(cls, state: MutableMapping[str, Any]) -> "Channel":
        return state.setdefault("_steering_channel", cls())

    def attach(self, key: Hashable, view: SideBySide) -> None:
        """This script run shows the run `key` in `view` (drawn from any thread)."""
        with self._lock:
            self._key, self._view, self._ctx = key, view, get_script_run_ctx()

    def publisher(self, key: Hashable) -> Callable[[Sequence[Any]], None]:
        """The callback a run computing `key` streams its partial texts to."""

        def publish(partials: Sequence[Any]) -> None:
            with self._lock:
                view, ctx, shown = self._view, self._ctx, self._key
            if view is None or shown != key:
                return  # the page moved on to another setting: this run's text is not shown
            if ctx is not None and get_script_run_ctx(suppress_warning=True) is not ctx:
                add_script_run_ctx(threading.current_thread(), ctx)
            view.stream(partials)

        return publish


def pinned_view(runs: Sequence[Run], lang_name: str) -> None:
    """Pinned runs side by side, one column each, every generation with its scores."""
    for col, run in zip(st.columns(len(runs)), runs):
        show(col, heading(f"Run {run.label}"))
        col.caption(f"Prompt: {run.prompt}")
        for column in run.columns:
            show(col, heading(column.title))
            for seed in run.seeds:
                row = run.row(column.key, seed)
                if row is not None:
                    show(col, card(run.text_html(column.key, seed) or "", scores_line(row, lang_name), "done"))


def history_block(history: History, lang_name: str, export: Callable[[pd.DataFrame, None, str], None]) -> None:
    """The session's runs: the list, the pinned comparison and the CSV export."""
    if not history.runs:
        return
    st.subheader("Run history")
    st.caption("Every side-by-side run of this session. Pin runs to compare them side by side; the "
               "CSV holds every run's generations, scores and settings.")
    st.dataframe(history.overview(), hide_index=True, width="stretch")
    numbers = [r.number for r in reversed(history.runs)]
    pinned = st.multiselect("Pin runs side by side", numbers, key="st_pinned", max_selections=MAX_PINNED,
                            format_func=lambda n: history.find(n).label if history.find(n) else f"#{n}")
    runs = [r for r in (history.find(n) for n in pinned) if r is not None]
    if runs:
        pinned_view(runs, lang_name)
    export(history.frame(), None, "steering_history")
