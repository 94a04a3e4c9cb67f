"""Memory over 50 successive runs: RSS stays bounded (result LRU, model LRU, no autograd leaks).

One AppTest session on the Logit Lens page (default model) runs the lens on 50 different texts,
each a cache miss (a real computation: 19 layers x positions x 262k vocabulary in chunks), then
the first 10 again (cache hits). RSS is sampled after every run. Printed: start (model loaded,
page rendered once), peak, end, growth, and growth over the second half (a leak shows as a
steady climb there; the result cache holds small DataFrames, at most 64 of them).

Run: python bench/memory.py
"""

from __future__ import annotations

import resource
import time

from common import ROOT, short_texts

import psutil


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def main() -> None:
    import torch
    from streamlit.testing.v1 import AppTest

    from app import widgets
    from hubcore.models import ModelSpec, get_model

    torch.set_grad_enabled(False)
    get_model(ModelSpec())
    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=600).run()
    at.switch_page(str(ROOT / "pages" / "logit_lens.py")).run()
    start = rss_mb()
    samples = []
    texts = short_texts(50)
    t0 = time.perf_counter()
    for text in texts + texts[:10]:
        at.text_area[0].set_value(text)
        at.button[0].click().run()
        assert not at.exception and not at.error, text
        samples.append(rss_mb())
    wall = time.perf_counter() - t0
    peak = max(samples)
    end = samples[-1]
    mid = samples[24]
    print(f"50 lens runs (cache misses) + 10 repeats (hits) in {wall:.0f} s on the default model")
    print(f"RSS start {start:,.0f} MB, peak {peak:,.0f} MB, end {end:,.0f} MB, growth {end - start:+,.0f} MB "
          f"(second half of the misses: {samples[49] - mid:+,.0f} MB); "
          f"process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
    print(f"result cache entries: {len(widgets._results)} (bound {widgets.MAX_RESULTS})")
    print("RSS after each run (MB): " + " ".join(f"{s:.0f}" for s in samples))


if __name__ == "__main__":
    main()
