"""Result-cache benchmark: a display-only widget change re-draws from cached results.

Streamlit reruns the whole page script on every widget change. Experiments go through
`app.widgets.cached_run` (a process-wide LRU keyed on the function, the model spec and every
parameter), so a widget that changes only what is drawn must not recompute. Measured with
AppTest on the default model, every number from this one run:

1. Formal semantics: the first run (sentence-vs-LF similarity, 60 examples) vs switching the
   metric raw -> centered (a radio in the form, applied on Run; the cached result is re-sliced),
   and switching back (every chart already rendered once);
2. Logit Lens: the first run vs moving the "Layers shown" range slider.

Target: a display-only rerun < 0.3 s. Run: python bench/result_cache.py
"""

from __future__ import annotations

import time

from common import ROOT

MAIN = str(ROOT / "app" / "main.py")


def timed(step) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def main() -> None:
    import torch
    from streamlit.testing.v1 import AppTest

    from hubcore.models import ModelSpec, get_model

    torch.set_grad_enabled(False)
    get_model(ModelSpec())  # the model load is not what this measures
    at = AppTest.from_file(MAIN, default_timeout=600).run()

    at.switch_page(str(ROOT / "pages" / "semantics.py"))
    first = timed(lambda: at.run())
    assert not at.exception, at.exception
    run_button = next(b for b in at.button if b.label == "Run")

    def switch(metric: str) -> None:
        at.radio(key="sem_metric").set_value(metric)
        run_button.click()
        at.run()

    to_centered = timed(lambda: switch("centered"))
    to_raw = timed(lambda: switch("raw"))
    again = timed(lambda: switch("centered"))
    assert not at.exception
    print("Formal semantics (60 examples): first run "
          f"{first:6.2f} s; metric raw->centered {to_centered:.3f} s ({first / to_centered:.0f}x faster), "
          f"back to raw {to_raw:.3f} s, centered again {again:.3f} s")

    at.switch_page(str(ROOT / "pages" / "logit_lens.py"))
    first = timed(lambda: at.run())
    top = get_model(ModelSpec()).num_layers
    ranges = [(10, top), (0, 5), (10, top)]
    times = []
    for lo_hi in ranges:
        at.slider(key="lens_layers").set_value(lo_hi)
        times.append(timed(lambda: at.run()))
    assert not at.exception
    print(f"Logit Lens (example text): first run {first:6.2f} s; layer range "
          + ", ".join(f"{r} {t:.3f} s" for r, t in zip(ranges, times))
          + f" ({first / max(times):.0f}x faster than the first run)")
    worst = max(to_centered, to_raw, again, *times)
    print(f"slowest display-only rerun: {worst:.3f} s (target < 0.3 s): {'OK' if worst < 0.3 else 'MISSED'}")


if __name__ == "__main__":
    main()
