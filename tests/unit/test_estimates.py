"""Predicted run times from measured ones (hubcore.estimates), kept in the cache directory."""

from __future__ import annotations

import json

import pytest

from hubcore.estimates import FILE, fit, predict, record, spec_identity, work_units
from hubcore.models import ModelSpec


def test_work_units_read_the_sizes_that_scale_a_run():
    assert work_units({"text": "x" * 2000, "top_k": 5, "raw": False}) == 2000
    assert work_units({"n": 30, "layers": [3, 6], "strengths": [0.0, 1.0, 2.0], "seed": 7}) == 180
    assert work_units({"programs": None, "max_programs": 20}) == 20
    assert work_units({"programs": ("a", "b"), "max_programs": 164}) == 2  # a given list wins
    assert work_units({"seed": 0, "n_boot": 1000}) == 1  # neither scales the forward passes


def test_one_measurement_predicts_proportionally(tmp_path):
    spec = ModelSpec()
    assert predict("lens", spec, {"text": "abc"}, root=tmp_path) is None
    record("lens", spec, {"text": "x" * 10}, 2.0, root=tmp_path)
    est = predict("lens", spec, {"text": "x" * 2000}, root=tmp_path)
    assert est.seconds == pytest.approx(400.0) and est.runs == 1
    assert "about 6 min 40 s on this machine" in est.sentence()


def test_several_sizes_fit_a_fixed_cost_plus_a_rate(tmp_path):
    spec = ModelSpec()
    for chars, seconds in ((10, 1.05), (100, 1.5), (1000, 6.0)):  # 1 s overhead + 5 ms per char
        record("lens", spec, {"text": "x" * chars}, seconds, root=tmp_path)
    est = predict("lens", spec, {"text": "x" * 2000}, root=tmp_path)
    assert est.seconds == pytest.approx(11.0, rel=0.02)
    assert fit([(1.0, 5.0), (2.0, 4.0)])(10.0) >= 0.0  # a noisy negative slope never predicts < 0


def test_measurements_are_per_experiment_and_model_and_bounded(tmp_path):
    record("lens", ModelSpec(), {"text": "abc"}, 1.0, root=tmp_path)
    record("lens", ModelSpec(device="cpu"), {"text": "abc"}, 9.0, root=tmp_path)
    assert predict("lens", ModelSpec(), {"text": "abc"}, root=tmp_path).seconds == pytest.approx(1.0)
    assert predict("similarity", ModelSpec(), {"text": "abc"}, root=tmp_path) is None
    for _ in range(50):
        record("lens", ModelSpec(), {"text": "abc"}, 1.0, root=tmp_path)
    data = json.loads((tmp_path / FILE).read_text())
    assert all(len(v) <= 20 for v in data.values())


def test_a_corrupt_file_costs_the_estimate_only(tmp_path):
    (tmp_path / FILE).write_text("{not json")
    assert predict("lens", ModelSpec(), {"text": "a"}, root=tmp_path) is None
    record("lens", ModelSpec(), {"text": "a"}, 1.0, root=tmp_path)
    assert predict("lens", ModelSpec(), {"text": "a"}, root=tmp_path).runs == 1


def test_spec_identity_names_fields_and_no_secret(monkeypatch):
    monkeypatch.setenv("NDIF_API_KEY", "secret-key-123")
    text = spec_identity(ModelSpec(remote="ndif"))
    assert "remote='ndif'" in text and "secret" not in text
