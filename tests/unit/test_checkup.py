"""The model checkup on random-weight models: honest nulls, the CLI's files, the report's shape.

Random weights have no hub: every verdict must come out `none` and the hub null, with every check
actually measured (status "ran"), on the shared 3-block tiny model and on a deeper one (8 blocks,
so two consecutive judged layers exist and `shows` is possible at all).
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from hubcore import cli
from hubcore.experiments.checkup import checkup
from hubcore.experiments.checkup_battery import CHECK_KEYS, HUB, VERDICT_KEYS
from hubcore.experiments.checkup_report import chart_specs, combined, render_html, reproduce
from hubcore.models import ModelSpec, wrap_model
from tests.support.checkup_models import random_llama

QUICK = "similarity_zh_en,languages_zh"


@pytest.fixture(scope="module")
def deep_random(tiny_tokenizer):
    """A random-weight Llama with 8 blocks (the judged layers 1..7 leave room for runs)."""
    return wrap_model(random_llama(tiny_tokenizer, layers=8), tiny_tokenizer, name="tiny-llama-8")


@pytest.fixture(scope="module")
def random_runs(tiny_model, deep_random):
    return [checkup(tiny_model("llama"), budget="fast"), checkup(deep_random, budget="fast")]


def test_random_weights_have_no_hub_and_no_effect(random_runs):
    for res in random_runs:
        checks = res.checks.set_index("check")
        assert list(checks.index) == list(VERDICT_KEYS)
        assert (checks["status"] == "ran").all(), checks["status"].to_dict()  # measured, not assumed
        assert res.verdicts == {k: "none" for k in VERDICT_KEYS}, checks["sentence"].to_dict()
        assert res.hub_layer is None and res.hub_retrieval is None
        assert res.summary["hub_layer"].isna().all()
        assert res.lens_check["ok"]  # the lens is still the model's own output: a check, not an effect


def test_every_verdict_reads_its_effect_curve_in_the_judged_layers(random_runs):
    res = random_runs[1]
    L = int(res.summary["layers"].iloc[0])
    eff = res.effects
    judged = eff[eff["in_window"]]
    assert set(eff["check"]) == set(VERDICT_KEYS)
    layers = judged[judged["axis"] == "layer"]
    assert layers["x"].between(1, L - 1).all()
    assert set(layers[layers["check"] == "similarity_zh_en"]["x"]) == set(range(2, L))  # block 1 is the reference
    assert set(judged[judged["check"] == "actadd"]["x"]) == {-16.0, -8.0, 8.0, 16.0}
    # depth: each model's own layer over its own L, nothing interpolated
    lay = res.curves[res.curves["axis"] == "layer"]
    assert (lay["depth"] == lay["x"] / L).all()


def test_a_check_that_cannot_run_is_said_and_the_others_still_run(tiny_model, monkeypatch):
    from dataclasses import replace

    from hubcore.experiments import checkup_battery

    bad = [replace(c, runs=lambda budget: [{"texts": "/no/such/file.txt"}]) if c.key == "languages_zh" else c
           for c in checkup_battery.CHECKS]
    monkeypatch.setattr("hubcore.experiments.checkup.CHECKS", tuple(bad))
    res = checkup(tiny_model("llama"), checks=("languages_zh", "arithmetic"))
    rows = res.checks.set_index("check")
    assert rows.loc["languages_zh", "status"].startswith("could not run:")
    assert "/no/such/file.txt" in rows.loc["languages_zh", "status"]
    assert rows.loc["languages_zh", "verdict"] == "none"
    assert rows.loc["arithmetic", "status"] == "ran"
    assert any("could not run" in n for n in res.notes)
    page = render_html([res])  # its none is not a null result: the report says it was not measured
    assert page.count("(not measured)") == 1


def test_cli_runs_each_model_and_writes_one_report(tiny_model, deep_random, tmp_path, monkeypatch):
    models = {"tiny-a": tiny_model("llama"), "tiny-b": deep_random}
    loaded = []

    def load(args, kind="text"):
        loaded.append((args.model, args.remote))
        return models[args.model]

    monkeypatch.setattr(cli, "_load", load)
    out = tmp_path / "report.html"
    code = cli.main(["checkup", "--model", "tiny-a", "--model", "tiny-b", "--checks", QUICK, "--out", str(out)])
    assert code == 0
    assert loaded == [("tiny-a", "off"), ("tiny-b", "off")]
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["report.html", "report.json", "report_checks.csv", "report_curves.csv", "report_effects.csv",
                     "report_summary.csv"]
    summary = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert [m["model"] for m in summary["models"]] == ["tiny-llama", "tiny-llama-8"]
    for m in summary["models"]:
        assert {"spec", "hub_layer", "hub_retrieval", "english_peak_layer", "verdicts", "seconds"} <= set(m)
        assert m["hub_layer"] is None and set(m["verdicts"]) == {HUB, "similarity_zh_en", "languages_zh"}
        assert m["spec"]["layers"] in (3, 8)
    assert "shows" in summary["rule"] and "python -m hubcore checkup" in summary["command"]
    curves = pd.read_csv(tmp_path / "report_curves.csv")
    assert set(curves["model"]) == {"tiny-llama", "tiny-llama-8"}
    text = out.read_text(encoding="utf-8")
    assert text.count("<svg") == len(chart_specs(curves, depth=False)) == 4  # 2 measures per check
    assert "default-src 'none'" in text and "<script" not in text
    # nothing is fetched: no src/href attribute, no url(...) but the SVG's own #fragments (clip paths);
    # the xmlns URLs are names, not requests
    assert not re.search(r"\b(src|href)\s*=", text) and not re.search(r"url\((?!#)", text)


def test_cli_checks_options_before_loading_any_model(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cli, "_load", lambda args, kind="text": pytest.fail("loaded a model"))
    assert cli.main(["checkup", "--model", "a", "--out", str(tmp_path / "report.csv")]) == 2
    assert "must name a .html file" in capsys.readouterr().err
    assert cli.main(["checkup", "--model", "a", "--model", "b", "--remote", "off", "--remote", "local",
                     "--remote", "ndif", "--out", str(tmp_path / "r.html")]) == 2
    assert "once per --model (2)" in capsys.readouterr().err


def test_cli_pairs_remotes_with_models_and_keeps_going_after_a_failure(tiny_model, monkeypatch, tmp_path, capsys):
    from hubcore.errors import ModelLoadError

    seen = []

    def load(args, kind="text"):
        seen.append((args.model, args.remote))
        if args.model == "missing":
            raise ModelLoadError("No model at 'missing'.")
        return tiny_model("llama")

    monkeypatch.setattr(cli, "_load", load)
    out = tmp_path / "r.html"
    code = cli.main(["checkup", "--model", "missing", "--model", "tiny", "--remote", "local", "--remote", "off",
                     "--checks", "arithmetic", "--out", str(out)])
    assert code == 2 and seen == [("missing", "local"), ("tiny", "off")]
    assert "error: missing: No model at 'missing'." in capsys.readouterr().err
    assert out.exists() and "tiny-llama" in out.read_text(encoding="utf-8")


def test_reproduce_names_every_model_and_where_it_runs():
    a, b = ModelSpec(), ModelSpec(source="/models/x", remote="local")
    assert reproduce([a, b], "full") == ("python -m hubcore checkup --model default --model /models/x "
                                         "--remote off --remote local --budget full --out checkup.html")
    assert reproduce([b, ModelSpec(source="y", remote="local")], checks=["arithmetic"]) == (
        "python -m hubcore checkup --model /models/x --model y --remote local --checks arithmetic --out checkup.html")
    assert reproduce([ModelSpec(dtype="bfloat16"), ModelSpec(source="z", dtype="bfloat16")]).endswith(
        "--model default --model z --dtype bfloat16 --out checkup.html")


def test_depth_axis_puts_each_models_layers_at_l_over_L(random_runs):
    tables = combined(random_runs)
    curves = tables["curves"]
    for spec in chart_specs(curves, depth=True):
        data = pd.DataFrame(spec.spec["data"]["values"])
        x = spec.spec["layer"][-2]["encoding"]["x"]["field"]  # the line layer (the baseline rule is last)
        if spec.check == "actadd":
            assert x == "coef"  # steering stays on its coefficients
            continue
        assert x == "depth"
        for model, rows in data.groupby("model"):
            L = {"tiny-llama": 3, "tiny-llama-8": 8}[model]
            assert sorted(set(rows["depth"])) == [l / L for l in range(L + 1)]
    assert set(tables["summary"]["model"]) == {"tiny-llama", "tiny-llama-8"}
    assert list(tables["checks"].columns)[0] == "model"


def test_checkup_is_registered_with_its_page_and_command():
    from hubcore.cli import build_parser
    from hubcore.experiments.registry import find

    exp = find("checkup")
    assert exp.page == "compare" and exp.many_models and exp.out_suffix == ".html"
    args = build_parser().parse_args(["checkup", "--model", "a", "--model", "b", "--checks", "arithmetic",
                                      "--out", "x.html"])
    assert args.model == ["a", "b"] and args.checks == ["arithmetic"] and args.budget == "fast"
    assert set(CHECK_KEYS) < set(VERDICT_KEYS)
