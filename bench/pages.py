"""Issue 14's page numbers, in one run: first paint and first result of every page, live vs from
the demo bundle, and the widest element on a 500-token Logit Lens.

Two `streamlit run` servers (one after the other, never side by side: the machine has 2 cores),
each on its own cache directory whose model entries are links to the real ones:
- live: no demo bundle: a page computes its default results when opened;
- bundle: a demo bundle built by `python -m hubcore demo-bundle` (pass `--bundle-cache DIR` to
  reuse one, else it is built first into a temporary directory).
Both servers are warmed the same way before anything is timed: the default model is loaded by a
Logit Lens run on a text no page opens on (so no default result is cached by it).

Per page, headless Chromium at 1400x1000: *first paint* = from `goto` to the page's title drawn;
*first result* = to the first "Download CSV" button (every result block has one), i.e. chart,
caption and export on screen. From the bundle the page must also say "Opened from the demo bundle".
Each `goto` is a full page load (the browser parses Streamlit's scripts and the chart library
again, ~1.5 s of the first result here); the `clicked` lines then open the same pages by the
sidebar's links in one session, as a presenter clicks through.

`--lens-tokens N` (default 500): the Logit Lens on a text of about N tokens: its token count, the
widest element's right edge, the heatmap's width and the page width (px), before the issue was
fixed a 484-token text drew a 28,212 px heatmap.

Run: python bench/pages.py [--bundle-cache DIR] [--pages logit_lens,arithmetic] [--lens-tokens 500]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from common import ROOT

PAGES = ("home", "logit_lens", "multilingual", "arithmetic", "semantics", "code", "audio", "steering")
RESULT = "Download CSV"
WARM = "/logit_lens?text=" + quote("Warm-up text that no page opens on.")
SPANISH = ("Hoy es un buen día para aprender algo nuevo sobre los modelos de lenguaje y la forma en que "
           "representan el significado de las palabras en muchas lenguas diferentes. ")


def linked_cache(target: Path) -> Path:
    from tests.browser.conftest import linked_cache as link

    return link(target)


def build_bundle(root: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hubcore", "demo-bundle"], cwd=ROOT, check=True,
                   env={**os.environ, "HUBCORE_CACHE_DIR": str(root)})
    return time.perf_counter() - start


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def timed(tab, path: str, go, title) -> tuple[float, float, bool]:
    """(first paint, first result, said 'Opened from the demo bundle') in seconds: `go()` opens
    the page, `title` is its title's locator."""
    start = time.perf_counter()
    go()
    title.wait_for(timeout=600_000)
    paint = time.perf_counter() - start
    if path == "home":
        return paint, paint, False
    tab.get_by_text(RESULT).filter(visible=True).first.wait_for(timeout=900_000)
    result = time.perf_counter() - start
    said = tab.get_by_text("Opened from the demo bundle", exact=False).count() > 0
    return paint, result, said


def open_page(tab, url: str, path: str) -> tuple[float, float, bool]:
    """A page opened by its URL: a full page load."""
    return timed(tab, path, lambda: tab.goto(f"{url}/{path}"), tab.locator("h1").first)


def click_page(tab, path: str) -> tuple[float, float, bool]:
    """A page opened by the sidebar's link (the app's own navigation: no page reload, so the
    browser's scripts and chart library are loaded already, as for a presenter clicking through)."""
    from app.registry import EXPERIMENT_PAGES, HOME

    title = next(p.title for p in [HOME, *EXPERIMENT_PAGES] if p.url_path == path)
    link = tab.locator("[data-testid=stSidebarNav]").get_by_text(title, exact=True)
    return timed(tab, path, link.click, tab.locator("h1").filter(has_text=title.split()[0]).first)


def time_pages(cache: Path, pages: list[str], label: str) -> dict[str, tuple[float, float, bool]]:
    """Each page opened by URL (a full page load), then again by the sidebar's links in a fresh
    session (`[label, clicked]` lines); returns the URL openings."""
    from tests.support.browser import browser_page, streamlit_server

    os.environ["HUBCORE_CACHE_DIR"] = str(cache)
    out = {}
    with streamlit_server(timeout=180) as url, browser_page(height=1000) as tab:
        start = time.perf_counter()
        tab.goto(url + WARM)
        tab.get_by_text(RESULT).filter(visible=True).first.wait_for(timeout=900_000)
        print(f"[{label}] warm-up (model load + one lens run): {time.perf_counter() - start:.1f} s; {load()}",
              flush=True)
        for path in pages:
            out[path] = open_page(tab, url, path)
            paint, result, said = out[path]
            print(f"[{label}] /{path}: first paint {paint:.2f} s, first result {result:.2f} s"
                  + (" (opened from the demo bundle)" if said else "") + f"; {load()}", flush=True)
    with streamlit_server(timeout=180) as url, browser_page(height=1000) as tab:
        tab.goto(url + WARM)  # loads the model
        tab.get_by_text(RESULT).filter(visible=True).first.wait_for(timeout=900_000)
        # the clicks run in a fresh session (the Logit Lens page opens on its example again)
        # that starts on a page by URL, not timed
        tab.goto(url + "/semantics")
        tab.get_by_text(RESULT).filter(visible=True).first.wait_for(timeout=900_000)
        for path in [p for p in pages if p != "home"]:
            paint, result, said = click_page(tab, path)
            print(f"[{label}, clicked] {path}: title {paint:.2f} s, first result {result:.2f} s"
                  + (" (opened from the demo bundle)" if said else "") + f"; {load()}", flush=True)
    return out


def text_of(tokens: int) -> str:
    """Spanish sentences cut at the word where the default model's tokenizer reaches `tokens`."""
    from transformers import AutoTokenizer

    from hubcore.models.default import default_model_dir

    tok = AutoTokenizer.from_pretrained(default_model_dir())
    words = (SPANISH * (tokens // 10 + 1)).split(" ")
    lo, hi = 1, len(words)
    while lo < hi:  # the fewest words whose text has at least `tokens` tokens (BOS included)
        mid = (lo + hi) // 2
        if len(tok(" ".join(words[:mid]))["input_ids"]) >= tokens:
            hi = mid
        else:
            lo = mid + 1
    return " ".join(words[:lo])


def lens_width(cache: Path, tokens: int) -> None:
    from tests.support.browser import CHART, browser_page, streamlit_server

    os.environ["HUBCORE_CACHE_DIR"] = str(cache)
    text = text_of(tokens)
    with streamlit_server(timeout=180) as url, browser_page(height=1000) as tab:
        start = time.perf_counter()
        tab.goto(f"{url}/logit_lens?text={quote(text)}")
        tab.get_by_text("Input tokens (", exact=False).first.wait_for(timeout=1_200_000)  # the result
        tab.locator(CHART).first.locator("canvas, svg.marks").first.wait_for(timeout=300_000)
        tab.wait_for_timeout(3000)
        took = time.perf_counter() - start
        label = tab.get_by_text("Input tokens (", exact=False).first.inner_text()
        # as tests/browser/test_running_and_long_inputs.py measures it: the page's scroll width or
        # a chart, canvas, SVG or code block sticking out (a slider's clipped native input is not)
        widest = tab.evaluate("Math.max(document.documentElement.scrollWidth, ...Array.from(document.querySelectorAll("
                              "'canvas, svg, [data-testid=stVegaLiteChart], pre, code')).map(e => e.getBoundingClientRect().right))")
        heat = tab.locator(CHART).first.locator("canvas, svg.marks").first.bounding_box()["width"]
        main = tab.evaluate("document.querySelector('[data-testid=\"stMainBlockContainer\"]')"
                            ".getBoundingClientRect().width")
        print(f"lens on {len(text)} characters ({label.strip()}), opened in {took:.1f} s: widest element "
              f"{widest:.0f} px (viewport 1400), heatmap {heat:.0f} px, main column {main:.0f} px; "
              f"before: 28,212 px for 484 tokens; {load()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle-cache", type=Path, help="a cache directory holding a built demo bundle")
    parser.add_argument("--pages", default=",".join(PAGES))
    parser.add_argument("--lens-tokens", type=int, default=500, help="0: skip the long-text lens")
    parser.add_argument("--skip-live", action="store_true")
    args = parser.parse_args()
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    pages = [p for p in args.pages.split(",") if p]
    tmp = Path(tempfile.mkdtemp(prefix="hub-bench-pages-"))
    bundle = args.bundle_cache
    if pages and bundle is None:
        bundle = linked_cache(tmp / "bundle")
        print(f"demo bundle built in {build_bundle(bundle):.0f} s", flush=True)
    got = time_pages(bundle, pages, "bundle") if pages else {}
    if pages and not args.skip_live:
        live = time_pages(linked_cache(tmp / "live"), pages, "live")
        for path in pages:
            if path != "home":
                print(f"/{path}: first result live {live[path][1]:.2f} s vs bundle {got[path][1]:.2f} s "
                      f"({live[path][1] / got[path][1]:.1f}x)", flush=True)
    if args.lens_tokens:
        lens_width(linked_cache(tmp / "live"), args.lens_tokens)


if __name__ == "__main__":
    main()
