"""Streamed generation on the Steering page (issue 17): how soon do the first words show?

Measured in one run on the default model, the page's side by side (3 columns x 2 seeds x 32 new
tokens, the paper's sampling settings):
1. engine: `steer(..., stream=...)` timed from the call to the first streamed words, to the
   complete text (last step) and to the scored result; the ratio first words / complete text
   is what streaming saves in waiting. The first call decodes all six rows ("cold"); each later
   call moves the coefficient, as the slider does, and reuses the unsteered column
   (`hubcore.steering.unsteered`); `--cold` forgets it before every call;
2. page (`--page`): a real `streamlit run` server and headless Chromium; the Coefficient slider
   is moved `--repeats` times, each move 1 s after the side by side before it completed, and
   each time the script measures the time to the first streamed words in a steered column (one
   of its cards turns "live") and to the complete side by side with scores (all six cards
   "done"). Issue 17's targets: <= 1.5 s and <= 6 s. (A move pressed at once after the page's
   first side by side waited ~0.4 s for the browser, still drawing the page, to send it, and
   ~0.8 s more to draw the pending cards: 2.3-2.7 s to first words vs 1.0-1.1 s a second later.)

The machine's load average is printed beside each number: on a shared 2-core machine the times
follow the load (torch's two threads stall each other when other jobs run; `OMP_NUM_THREADS=1`
before the command gives the server one thread).

Run: python bench/steering_stream.py [--page] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time

from common import ROOT


def engine(repeats: int, cold: bool = False) -> None:
    from hubcore.data.steering_prompts import prompt_set
    from hubcore.experiments import actadd as S
    from hubcore.models import ModelSpec, get_model
    from hubcore.steering import unsteered

    model = get_model(ModelSpec())
    prompt = prompt_set("es-prefixes", 12, seed=0)[0]
    pairs = tuple(S.parse_pairs("", ["Bueno:Malo", "Good:Bad"]))
    for n in range(repeats):
        coef = 5.0 + 0.5 * n
        if cold:
            unsteered.forget()
        kind = "cold" if cold or n == 0 else "coefficient move"
        start = time.perf_counter()
        marks: list[float] = []
        S.steer(model, (prompt,), "es", pairs, None, (0.0, coef), seeds=(0, 1), n_boot=0,
                stream=lambda partials: marks.append(time.perf_counter() - start))
        done = time.perf_counter() - start
        print(f"engine, coefficient {coef:g} ({kind}): first words {marks[0]:.2f} s, complete text {marks[-1]:.2f} s "
              f"({len(marks)} steps), scored {done:.2f} s; first words / complete text "
              f"{marks[0] / marks[-1]:.3f}; load {os.getloadavg()[0]:.1f}", flush=True)


CARDS = ("() => [...document.querySelectorAll('.steer-gen')].slice(0, 6).map(e => e.dataset.state + '|' + "
         "e.querySelector('.steer-text').innerText)")


def page(repeats: int, poll: float = 0.03) -> None:
    from tests.support.browser import browser_page, streamlit_server

    with streamlit_server(timeout=180) as url, browser_page() as tab:
        tab.goto(url + "/steering")
        tab.wait_for_function("() => [...document.querySelectorAll('.steer-gen')].filter("
                              "e => e.dataset.state === 'done').length >= 6", timeout=900_000)
        slider = tab.get_by_role("slider", name="Coefficient")
        tab.wait_for_timeout(1000)  # as between moves: the browser has finished drawing the page first
        for _ in range(repeats):
            before = tab.evaluate(CARDS)
            slider.focus()
            start = time.perf_counter()
            slider.press("ArrowRight")
            first = None
            while time.perf_counter() - start < 900:
                now = tab.evaluate(CARDS)
                if first is None and any(c.startswith("live|") for c in now[2:]):  # a steered column's words
                    first = time.perf_counter() - start
                if all(c.startswith("done|") for c in now) and now[2:] != before[2:]:
                    break
                time.sleep(poll)
            done = time.perf_counter() - start
            shown = "never streamed" if first is None else f"{first:.2f} s"
            print(f"page, coefficient -> {slider.input_value()}: first words {shown}, complete side by side "
                  f"with scores {done:.2f} s; load {os.getloadavg()[0]:.1f}", flush=True)
            tab.wait_for_timeout(1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", action="store_true", help="also time the page in a browser")
    parser.add_argument("--poll", type=float, default=0.03, help="seconds between two looks at the cards")
    parser.add_argument("--no-engine", action="store_true", help="time the page only")
    parser.add_argument("--cold", action="store_true", help="engine: decode every row each time (no reuse)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.chdir(ROOT)
    if not args.no_engine:
        engine(args.repeats, args.cold)
    if args.page:
        page(args.repeats, args.poll)


if __name__ == "__main__":
    main()
