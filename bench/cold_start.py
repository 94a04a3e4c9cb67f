"""Cold-start benchmark, each step in a fresh Python process (as a user starting the app):

1. the Home page rendered with AppTest: imports + first render, and whether any model (or even a
   model class) got loaded (it must not: Home loads nothing);
2. the default model loaded from its cache (safetensors + tokenizer + nnterp wrap + lens check),
   target <= 10 s;
3. with --convert: the first-ever conversion of the packaged GGUF into a temporary cache
   directory, printing every progress message with its time (what the UI's progress bar shows).

Run: python bench/cold_start.py [--convert]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from common import ROOT

HOME = f"""
import json, sys, time
sys.path.insert(0, {str(ROOT)!r})
t0 = time.perf_counter()
from streamlit.testing.v1 import AppTest
t1 = time.perf_counter()
at = AppTest.from_file({str(ROOT / 'app' / 'main.py')!r}, default_timeout=120).run()
t2 = time.perf_counter()
at.run()
t3 = time.perf_counter()
import hubcore.models as m
print(json.dumps({{"import_s": t1 - t0, "first_render_s": t2 - t1, "rerun_s": t3 - t2,
                  "exception": bool(at.exception), "loaded": [s.source for s in m.loaded_specs()],
                  "torch_imported": "torch" in sys.modules,
                  "model_class_imported": any(k.startswith("transformers.models.gemma3") for k in sys.modules)}}))
"""

LOAD = f"""
import json, sys, time
sys.path.insert(0, {str(ROOT)!r})
t0 = time.perf_counter()
import torch, transformers, nnterp
from hubcore.models import ModelSpec, load_model
t1 = time.perf_counter()
model = load_model(ModelSpec())
t2 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "load_s": t2 - t1, "card_load_s": model.card.load_seconds,
                  "lens_check": model.card.lens_check}}))
"""

CONVERT = f"""
import sys, time
sys.path.insert(0, {str(ROOT)!r})
from hubcore.models.default import default_model_dir
t0 = time.perf_counter()
def progress(f, m):
    print(f"{{time.perf_counter() - t0:7.1f}} s  {{f:4.0%}}  {{m}}", flush=True)
path = default_model_dir(progress=progress)
print(f"converted in {{time.perf_counter() - t0:.1f}} s -> {{path}}")
"""


def fresh(code: str, env: dict | None = None) -> str:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})})
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    return proc.stdout, time.perf_counter() - start


def main() -> None:
    out, wall = fresh(HOME)
    home = json.loads(out.strip().splitlines()[-1])
    print(f"Home page, fresh process: {wall:.1f} s wall (imports {home['import_s']:.1f} s, first render "
          f"{home['first_render_s']:.2f} s, rerun {home['rerun_s']:.2f} s); exception: {home['exception']}; "
          f"models loaded: {home['loaded'] or 'none'}; model classes imported: {home['model_class_imported']}")
    out, wall = fresh(LOAD)
    load = json.loads(out.strip().splitlines()[-1])
    verdict = "OK" if load["load_s"] <= 10 else "MISSED"
    print(f"Default model from cache, fresh process: {load['load_s']:.1f} s (target <= 10 s: {verdict}); "
          f"imports of torch/transformers/nnterp before it {load['import_s']:.1f} s; "
          f"lens check {load['lens_check']:.1e}")
    if "--convert" in sys.argv:
        with tempfile.TemporaryDirectory() as tmp:
            print("First-ever conversion (progress messages as the UI shows them):")
            out, wall = fresh(CONVERT, {"HUBCORE_CACHE_DIR": tmp})
            print(out.rstrip())


if __name__ == "__main__":
    main()
