"""Small, fast CLI-level parameter values for every registered experiment.

One place for "run this experiment quickly on a real model": the remote-overhead benchmark
(bench/remote.py), the default-model remote-equality tests and anything else that needs every
experiment at a glance use these values through `exp.call_kwargs(QUICK[name])`. Vision experiments
need a user's VLM and are left out.
"""

from __future__ import annotations

from typing import Any

ZH_PAIRS = "Chinese–English (HSK sentences)"

QUICK: dict[str, dict[str, Any]] = {
    "lens": {"text": "今天是开心的一", "top_k": 3, "targets": ["day", "天"]},
    "similarity": {"pairs": ZH_PAIRS, "template_a": "{} 这代表", "template_b": "{} This represents",
                   "n_boot": 50, "max_pairs": 12},
    "anchoring": {"texts": ZH_PAIRS, "lang": "zh", "n_boot": 50, "max_texts": 6},
    "languages": {"texts": ZH_PAIRS, "languages": ["en", "zh"], "n_boot": 50, "max_texts": 4},
    "arithmetic similarity": {"n": 40, "n_boot": 50},
    "arithmetic lens": {"n": 12, "n_boot": 50},
    "arithmetic trajectories": {"prompts": ["8=5+", "eight equals five plus"]},
    "arithmetic intervene": {"n": 4, "strengths": [0.0, 2.0], "few_shot": True, "max_b": 9},
    "semantics similarity": {"n": 12, "n_boot": 50},
    "semantics roles": {"n": 12, "n_boot": 50},
    "code lists": {"max_programs": 22, "sites": "code", "n_boot": 50},
    "code roles": {"max_programs": 6, "n_boot": 50},
    "code range-steer": {"strengths": [0.0, 4.0], "max_programs": 24},
    "code strip": {"code": "numbers = [1, 2, 3]\nfor n in numbers:\n    print(n)"},
    "steer": {"prompt": ["La comida del restaurante"], "coef": 5.0, "seeds": 1, "max_new_tokens": 6,
              "n_boot": 0},
    "sweep": {"prompt": ["La comida del restaurante", "El servicio"], "presets": "es",
              "coefs": [0.0, 8.0], "max_new_tokens": 6, "n_boot": 50},
    "audio similarity": {"kind": "crosslingual", "lang_a": "es", "lang_b": "en", "n": 4, "n_boot": 50},
    "audio lens": {"lang": "es", "n": 3, "n_boot": 50},
    "audio steer": {"n": 2, "strengths": [0.0, 20.0], "n_boot": 50},
}
