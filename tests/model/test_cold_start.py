"""Cold start: the Home page renders in a fresh process without loading any model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = f"""
import json, sys
sys.path.insert(0, {str(ROOT)!r})
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({str(ROOT / 'app' / 'main.py')!r}, default_timeout=120).run()
import hubcore.models as m
print(json.dumps({{"exception": [str(e.value) for e in at.exception], "title": at.title[0].value,
                  "loaded": [s.source for s in m.loaded_specs()], "registry": len(m.loaded_specs()),
                  "model_modules": sorted(k for k in sys.modules if k.startswith("transformers.models.")
                                          and "modeling" in k)}}))
"""


def test_home_renders_in_a_fresh_process_without_loading_a_model():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["exception"] == [] and got["title"] == "Semantic Hub Explorer"
    assert got["loaded"] == [] and got["registry"] == 0
    assert got["model_modules"] == []  # not even a model class was imported
