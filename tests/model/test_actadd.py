"""ActAdd (issue 6): per-position vectors on the first prompt tokens, applied once, sampling
controls (frequency penalty, per-row seeds), the scored `steer` experiment and its CLI.

Tiny random models check the mechanics against hand-written references; the real default
model checks that coefficient 0 with greedy decoding is plain transformers greedy generation
token for token, through the CLI.
"""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from hubcore import steering as S
from hubcore.errors import InputError
from hubcore.experiments import actadd as E
import hubcore.models.intrace as intrace
from hubcore.models import memo
from hubcore.steering import Intervention, unsteered
from tests.support.spies import watch_calls

PROMPTS = ["The capital of France is a city that", "Hola, me llamo Ana y vivo en", "def add(a, b): return"]


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def tiny(request, tiny_model):
    return tiny_model(request.param)


def _pp(model, k: int, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(k, model.hidden_size, generator=g) * scale


def test_actadd_vectors_are_per_token_differences(tiny):
    v = S.actadd_vectors(tiny, "Good morning", "Bad", layer=2)
    k = max(len(tiny.tokenizer("Good morning")["input_ids"]), len(tiny.tokenizer("Bad")["input_ids"]))
    assert v.shape == (k, tiny.hidden_size)
    assert torch.equal(v[0], torch.zeros_like(v[0]))  # both start with the same BOS
    from hubcore.trace import capture

    pos = capture(tiny, ["Good morning"], positions="all", layers=[2]).states[0][:, 0]
    assert torch.allclose(v[1], pos[1] - capture(tiny, ["Bad"], positions="all", layers=[2]).states[0][1, 0], atol=1e-5)


def test_actadd_vectors_are_computed_once_per_model_and_pair_and_handed_out_as_copies(tiny, monkeypatch):
    import hubcore.trace as trace

    first = S.actadd_vectors(tiny, "Good morning", "Bad", layer=2)
    captures: list[int] = []
    watch_calls(monkeypatch, trace, "capture_encoded", lambda model, encoded, *a, **kw: captures.append(len(encoded)))
    kept = first.clone()
    first.add_(1.0)  # a caller's changes stay its own
    again = S.actadd_vectors(tiny, "Good morning", "Bad", layer=2)
    assert captures == [] and torch.equal(again, kept)
    S.actadd_vectors(tiny, "Good morning", "Bad", layer=1)  # another layer: computed
    S.actadd_vectors(tiny.variant("local"), "Good morning", "Bad", layer=2)  # a remote run: computed
    assert captures == [2, 2]


def test_per_position_vectors_edit_exactly_the_first_k_tokens(tiny):
    k, layer, coef = 3, 2, 2.5
    vec = _pp(tiny, k)
    iv = Intervention(layer=layer, vectors=vec, coefs=coef, positions=list(range(k)), per_position=True)
    plain = S.capture_with(tiny, PROMPTS, [], layers=[layer])
    steered = S.capture_with(tiny, PROMPTS, [iv], layers=[layer])
    for a, b in zip(plain, steered):  # left padding differs per row: positions are unpadded
        assert torch.allclose(b[:k, 0], a[:k, 0] + coef * vec, atol=1e-4)
        assert torch.equal(b[k:, 0], a[k:, 0])


def test_actadd_generation_edits_the_prompt_once_kv_semantics(tiny, monkeypatch):
    """Cached decoding == recomputing the full sequence each step with the edit only on the
    first k prompt tokens; and the edit function runs once per generate call."""
    k, layer = 2, 1
    iv = Intervention(layer=layer, vectors=_pp(tiny, k, scale=3.0), coefs=1.0, positions=list(range(k)),
                      per_position=True)
    calls = {"n": 0}
    real = intrace.apply_edit

    def counting(h, *args):
        calls["n"] += 1
        return real(h, *args)

    monkeypatch.setattr(intrace, "apply_edit", counting)
    n_new = 6
    ours = S.generate_ids(tiny, PROMPTS, [iv], max_new_tokens=n_new)
    assert calls["n"] == 1  # one prompt pass, never again for generated tokens
    monkeypatch.setattr(intrace, "apply_edit", real)
    for prompt, got in zip(PROMPTS, ours):
        ids = list(tiny.tokenizer(prompt)["input_ids"])
        ref: list[int] = []
        for _ in range(len(got)):
            text_ids = ids + ref
            enc = [S.Encoded(ids=text_ids, offsets=[(0, 0)] * len(text_ids))]
            with torch.inference_mode():
                logits = S.traced(tiny, enc, [iv], logits=True)["logits"]
            ref.append(int(logits[0].argmax()))
        assert got == ref


def test_rows_at_other_layers_are_untouched_by_zero_coefficients(tiny):
    vec = torch.stack([_pp(tiny, 2), _pp(tiny, 2, seed=1)])
    a = Intervention(layer=1, vectors=vec, coefs=[1.0, 0.0], positions=[0, 1], per_position=True)
    b = Intervention(layer=2, vectors=vec, coefs=[0.0, 1.0], positions=[0, 1], per_position=True)
    both = S.generate_ids(tiny, PROMPTS[:2], [a, b], max_new_tokens=5)
    alone0 = S.generate_ids(tiny, PROMPTS[:1], [Intervention(1, vec[0], 1.0, [0, 1], per_position=True)], max_new_tokens=5)
    alone1 = S.generate_ids(tiny, PROMPTS[1:2], [Intervention(2, vec[1], 1.0, [0, 1], per_position=True)], max_new_tokens=5)
    assert both == alone0 + alone1


def test_per_position_shape_and_position_errors(tiny):
    with pytest.raises(InputError, match="Per-position vectors must be"):
        S.forward_with(tiny, PROMPTS, [Intervention(1, _pp(tiny, 3), 1.0, [0, 1], per_position=True)])
    with pytest.raises(InputError, match="one shared list"):
        S.forward_with(tiny, PROMPTS, [Intervention(1, _pp(tiny, 1), 1.0, "last", per_position=True)])
    with pytest.raises(InputError, match="out of range"):
        S.forward_with(tiny, ["Hi"], [Intervention(1, _pp(tiny, 3), 1.0, [0, 1, 40], per_position=True)])


def test_frequency_penalty_stops_repeats(tiny):
    plain = S.generate_ids(tiny, PROMPTS, max_new_tokens=12)
    assert any(len(set(row)) < len(row) for row in plain), "tiny greedy text should repeat a token"
    penalised = S.generate_ids(tiny, PROMPTS, max_new_tokens=12, frequency_penalty=1e4)
    assert all(len(set(row)) == len(row) for row in penalised)
    assert S.generate_ids(tiny, PROMPTS, max_new_tokens=12, frequency_penalty=0.0) == plain


def test_row_seeds_make_a_sampled_row_independent_of_its_batch(tiny):
    kw = dict(max_new_tokens=8, greedy=False, temperature=2.0, top_p=0.95)
    batch = S.generate_ids(tiny, PROMPTS, row_seeds=[5, 6, 7], **kw)
    for prompt, seed, row in zip(PROMPTS, [5, 6, 7], batch):
        assert S.generate_ids(tiny, [prompt], row_seeds=[seed], **kw)[0] == row
    other = S.generate_ids(tiny, PROMPTS, row_seeds=[8, 9, 10], **kw)
    assert other != batch
    with pytest.raises(InputError, match="one seed per prompt"):
        S.generate_ids(tiny, PROMPTS, row_seeds=[1], **kw)


def test_continuation_perplexity_matches_a_full_forward(tiny):
    inputs = PROMPTS[:2]
    new = S.generate_ids(tiny, inputs, max_new_tokens=5)
    got = E.continuation_perplexity(tiny, inputs, new)
    for text, ids, ppl in zip(inputs, new, got):
        prompt = tiny.tokenizer(text)["input_ids"]
        full = torch.tensor([prompt + ids])
        with torch.inference_mode():
            logp = tiny.hf(input_ids=full).logits[0].float().log_softmax(-1)
        nll = -torch.stack([logp[len(prompt) - 1 + i, t] for i, t in enumerate(ids)]).mean()
        assert ppl == pytest.approx(float(torch.exp(nll)), rel=1e-4)
    assert E.continuation_perplexity(tiny, ["x y z"], [[]])[0] != E.continuation_perplexity(tiny, ["x y z"], [[]])[0]


def test_a_continuation_scored_before_is_recalled_not_run_again(tiny, monkeypatch):
    """A slider move scores only the texts it has not scored on this loaded model; the values
    recalled equal fresh ones within float rounding, and a remote run recalls nothing."""
    import hubcore.lens as lens

    inputs = PROMPTS[:2]
    new = S.generate_ids(tiny, inputs, max_new_tokens=4, greedy=False, seed=3)
    first = E.continuation_perplexity(tiny, inputs, new)
    runs: list[int] = []
    watch_calls(monkeypatch, lens, "lens_at", lambda model, texts, *a, **kw: runs.append(len(texts)))
    other = S.generate_ids(tiny, PROMPTS[2:], max_new_tokens=4, greedy=False, seed=4)
    again = E.continuation_perplexity(tiny, inputs + PROMPTS[2:], new + other)
    assert runs == [1]  # only the new text ran
    assert again[:2] == first
    memo.forget_all()
    fresh = E.continuation_perplexity(tiny, inputs, new)
    assert runs == [1, 2]
    assert fresh == pytest.approx(first, rel=1e-5)
    dry = E.continuation_perplexity(tiny.variant("local"), inputs, new)
    assert runs == [1, 2, 2] and dry == pytest.approx(first, rel=1e-5)


def test_steer_grid_rows_and_shared_baseline(tiny):
    pairs = (E.Pair("Good", "Bad", "en"), E.Pair("Bueno", "Malo", "es"))
    rep = E.steer(tiny, PROMPTS[:2], "es", pairs, layers=[1, 2], coefs=[0.0, 4.0, -4.0], seeds=[0, 1],
                  instruction="", generation=E.Generation(max_new_tokens=4), n_boot=50)
    rows = rep.rows
    assert len(rows) == 2 * 2 * 2 * 3 * 2
    assert list(rows.columns) == E.ROW_COLUMNS
    zero = rows[rows.coef == 0]
    # coefficient 0 is generated once per (prompt, seed) and shared by every pair and layer
    assert zero.groupby(["prompt", "seed"]).continuation.nunique().max() == 1
    assert rows.sentiment.between(-1, 1).all() and (rows.perplexity > 0).all()
    s = rep.summary
    assert len(s) == 2 * 2 * 3
    assert ((s.sentiment_low <= s.sentiment + 1e-9) & (s.sentiment <= s.sentiment_high + 1e-9)).all()
    assert (s[s.coef == 0]["shift"] == 0).all()
    # greedy coefficient 0 equals plain generation of the same input
    greedy = E.steer(tiny, PROMPTS[:1], "en", pairs[:1], [1], [0.0], instruction="",
                     generation=E.Generation(max_new_tokens=5, greedy=True, frequency_penalty=0.0), n_boot=0)
    assert greedy.rows.continuation[0] == S.generate(tiny, PROMPTS[:1], max_new_tokens=5)[0]


def test_steer_rows_equal_single_runs(tiny):
    """A row of a sweep is the same text as that setting run alone (seeded per row)."""
    pairs = (E.Pair("Good", "Bad", "en"),)
    gen = E.Generation(max_new_tokens=5, temperature=1.5, top_p=0.9)
    grid = E.steer(tiny, PROMPTS[:2], "en", pairs, [2], [0.0, 8.0], seeds=[3], instruction="", generation=gen)
    for r in grid.rows.itertuples():
        unsteered.forget()  # the unsteered row too is generated alone, not reused from the grid
        alone = E.steer(tiny, [r.prompt], "en", pairs, [2], [r.coef], seeds=[3], instruction="", generation=gen)
        assert alone.rows.continuation[0] == r.continuation


def test_steer_input_errors(tiny):
    gen = E.Generation(max_new_tokens=2)
    with pytest.raises(InputError, match="same text twice"):
        E.steer(tiny, PROMPTS, "en", [E.Pair("Good", "Good")], [1], [1.0], generation=gen)
    with pytest.raises(InputError, match="only"):
        E.steer(tiny, ["Hi"], "en", [E.Pair("a very long steering text indeed", "Bad")], [1], [1.0],
                instruction="", generation=gen)
    with pytest.raises(InputError, match="Layers must lie"):
        E.steer(tiny, PROMPTS, "en", [E.Pair("Good", "Bad")], [99], [1.0], generation=gen)
    with pytest.raises(InputError, match="sentiment scorer"):
        E.steer(tiny, PROMPTS, "xx", [E.Pair("Good", "Bad")], [1], [1.0], generation=gen)
    with pytest.raises(InputError, match="Top-p"):
        E.steer(tiny, PROMPTS, "en", [E.Pair("Good", "Bad")], [1], [1.0], generation=E.Generation(top_p=0))
    with pytest.raises(InputError, match="not a number"):
        E.parse_coefficients("1, two")
    assert E.parse_coefficients("-8; 0, 8, 0") == (-8.0, 0.0, 8.0)


def test_language_helpers():
    assert E.detect_language(["La comida del restaurante de mi barrio"]) == "es"
    assert E.detect_language(["The food at the hotel was"]) == "en"
    assert E.detect_language(["这家酒店的服务"]) == "zh"
    m = E.language_match(["es muy buena la comida", "the food was very good", "好吃", "123"], "es")
    assert m[0] == 1.0 and m[1] < 0.3 and m[2] == 0.0 and m[3] != m[3]
    assert E.language_match(["好吃的菜 good"], "zh")[0] == pytest.approx(4 / 8)
    rel = E.relevance(["La comida del restaurante", "La comida del restaurante"],
                      [" del restaurante es muy buena", " the weather in London"])
    assert rel[0] > rel[1]


@pytest.mark.default_model
def test_cli_steer_coef_zero_greedy_is_plain_greedy_generation(default_model, tmp_path):
    """Independent of our decode loop: transformers' own generate() on the same input."""
    from hubcore.cli import main

    prompt = "Ayer fui a ver la película y"
    out = tmp_path / "steer.csv"
    assert main(["steer", "--prompt", prompt, "--coef", "0", "--greedy", "--max-new-tokens", "10",
                 "--layer", "6", "--out", str(out)]) == 0
    df = pd.read_csv(out, keep_default_na=False)
    assert list(df.columns[:7]) == ["prompt", "layer", "coef", "seed", "continuation", "sentiment", "perplexity"]
    assert len(df) == 1 and df.layer[0] == 6 and df.coef[0] == 0
    tok = default_model.tokenizer
    enc = tok("All of the following text is in Spanish:\n" + prompt, return_tensors="pt")
    with torch.inference_mode():
        ids = default_model.hf.generate(**enc, do_sample=False, max_new_tokens=10, top_k=None, top_p=None)
    assert df.continuation[0] == tok.decode(ids[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    # --instruction "" drops the prefix
    out2 = tmp_path / "noinstr.csv"
    assert main(["steer", "--prompt", prompt, "--coef", "0", "--greedy", "--max-new-tokens", "4",
                 "--instruction", "", "--out", str(out2)]) == 0
    enc = tok(prompt, return_tensors="pt")
    with torch.inference_mode():
        ids = default_model.hf.generate(**enc, do_sample=False, max_new_tokens=4, top_k=None, top_p=None)
    assert pd.read_csv(out2, keep_default_na=False).continuation[0] == tok.decode(
        ids[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)


@pytest.mark.default_model
def test_cli_sweep_writes_rows_and_summary(default_model, tmp_path, capsys):
    from hubcore.cli import main

    out = tmp_path / "sweep.csv"
    code = main(["sweep", "--prompt-set", "es-prefixes", "--n", "2", "--presets", "en,es",
                 "--layers", "6", "--coefs=-8,0,8", "--max-new-tokens", "6", "--seeds", "2",
                 "--bootstrap", "100", "--out", str(out)])
    assert code == 0
    rows = pd.read_csv(out, keep_default_na=False)
    assert len(rows) == 2 * 2 * 3 * 2  # prompts x pairs x coefs x seeds
    summary = pd.read_csv(tmp_path / "sweep_summary.csv")
    assert set(summary.pair) == {"en: Good − Bad", "es: Bueno − Malo"}
    assert {"sentiment_low", "sentiment_high", "perplexity", "in_language", "shift"} <= set(summary.columns)
    err = capsys.readouterr().err
    assert "sentiment scorer" in err


def test_cli_steer_errors(capsys):
    from hubcore.cli import main

    assert main(["steer", "--out", "/tmp/x.csv"]) == 2
    assert "--prompt" in capsys.readouterr().err
    assert main(["sweep", "--prompt", "Hola amigo", "--presets", "", "--out", "/tmp/x.csv"]) == 2
    assert "steering pairs" in capsys.readouterr().err
    assert main(["steer", "--prompt", "x", "--seeds", "0", "--out", "/tmp/x.csv"]) == 2


def _summary(rows):
    """A summary frame from (coef, sentiment, low, high, perplexity) rows of one pair and layer."""
    base = next(r for r in rows if r[0] == 0.0)
    return pd.DataFrame([{"pair": "p", "layer": 1, "coef": c, "sentiment": s, "sentiment_low": lo,
                          "sentiment_high": hi, "perplexity": ppl, "shift": s - base[1]}
                         for c, s, lo, hi, ppl in rows])


def test_best_setting_needs_the_wanted_sign_fluency_and_a_ci_apart_from_unsteered():
    summary = _summary([
        (0.0, 0.1, 0.0, 0.2, 3.0),
        (-8.0, 0.5, 0.4, 0.6, 3.0),   # raises sentiment, but with the wrong sign
        (8.0, 0.3, 0.25, 0.35, 3.5),  # apart from the unsteered CI: named
        (16.0, 0.9, 0.8, 1.0, 30.0),  # larger, but disfluent
    ])
    best, line = E.setting_verdict(summary, 1.0)
    assert best["coef"] == 8.0 and best["shift"] == pytest.approx(0.2)
    assert line.startswith("Largest positive shift that differs from unsteered") and "coefficient 8" in line
    assert E.best_setting(summary, 1.0) == best
    # the only negative coefficient raised sentiment: nothing moved it down
    best, line = E.setting_verdict(summary, -1.0)
    assert best is None and line.startswith("No setting differs from unsteered towards negative")


def test_no_best_setting_when_every_ci_overlaps_the_unsteered_one():
    """Issue 14: a "largest shift" was named although every CI overlapped the unsteered value."""
    summary = _summary([
        (0.0, 0.10, -0.20, 0.40, 3.0),
        (4.0, 0.30, 0.05, 0.55, 3.1),   # large shift, but its CI overlaps the unsteered CI
        (8.0, 0.35, 0.15, 0.45, 3.2),   # its CI excludes the unsteered mean, yet overlaps its CI
    ])
    best, line = E.setting_verdict(summary, 1.0)
    assert best is None
    assert line == ("No setting differs from unsteered towards positive: the 95% CI of every positive-"
                    "coefficient setting overlaps the unsteered one.")
    # without CIs (one prompt): nothing is named either, and the sentence says why
    best, line = E.setting_verdict(summary.assign(sentiment_low=float("nan"), sentiment_high=float("nan")), 1.0)
    assert best is None and "no confidence intervals" in line
    # apart but disfluent
    best, line = E.setting_verdict(_summary([(0.0, 0.1, 0.0, 0.2, 3.0), (8.0, 0.6, 0.5, 0.7, 9.0)]), 1.0)
    assert best is None and "while staying fluent" in line


def test_summary_has_no_ci_from_one_prompt_and_keeps_other_scores_when_one_is_missing(tiny):
    rep = E.steer(tiny, PROMPTS[:1], "en", [E.Pair("Good", "Bad")], [1], [0.0, 4.0], seeds=[0, 1], instruction="",
                  generation=E.Generation(max_new_tokens=3), n_boot=50)
    s = rep.summary
    assert s.sentiment_low.isna().all() and s.perplexity_high.isna().all()  # one prompt: no CI
    assert s.sentiment.notna().all() and (s.n == 2).all()
    rows = rep.rows.assign(sentiment=float("nan"))
    s2 = E.summarise(pd.concat([rows, rows.assign(prompt="another")]), n_boot=50)
    assert s2.sentiment.isna().all() and s2.perplexity.notna().all() and s2.perplexity_low.notna().all()
    assert E.setting_verdict(s2, 1.0) == (None, "No positive setting is named: sentiment was not scored.")


# ------------------------------------------------------------- streaming and stopping

def test_stream_sees_every_row_token_by_token_and_changes_nothing(tiny):
    """All rows of a batch advance together; the last streamed text is the final continuation;
    a watched run equals an unwatched one."""
    kw = dict(prompts=PROMPTS[:1], lang="en", pairs=(E.Pair("Good", "Bad", "en"), E.Pair("Yes", "No")),
              layers=[1], coefs=[0.0, 6.0], seeds=[0, 1], instruction="",
              generation=E.Generation(max_new_tokens=5, temperature=1.5, top_p=0.9), n_boot=0)
    calls: list[list[E.Partial]] = []
    watched = E.steer(tiny, stream=E.Stream(calls.append), **kw)
    memo.forget_all()  # the unwatched run generates and scores every row again
    plain = E.steer(tiny, **kw)
    pd.testing.assert_frame_equal(watched.rows, plain.rows)
    assert 1 <= len(calls) <= 5
    assert all(len(c) == 6 for c in calls)  # 2 unsteered + 2 pairs x 2 seeds, every step
    assert [p.new_tokens for p in calls[0]] == [1] * 6  # the first words arrive after one step
    last = {(p.pair, p.seed): p.text for p in calls[-1]}
    for r in watched.rows.itertuples():
        key = (None if r.coef == 0 else r.pair, r.seed)
        assert last[key] == r.continuation
    assert {p.pair for p in calls[0]} == {None, "en: Good − Bad", "Yes − No"}
    # streams compare equal (a result cache ignores who watches); the metadata leaves them out
    assert E.Stream(print) == E.Stream(calls.append) and hash(E.Stream(print)) == hash(E.Stream(len))
    assert "stream" not in watched.meta["params"]


def test_a_rerun_reuses_the_unsteered_rows_and_they_equal_fresh_ones(tiny, monkeypatch):
    """A slider move re-runs the side by side: its unsteered rows (coefficient 0) come from the
    earlier run on this loaded model, only the steered rows are decoded, and the result equals a
    run that generates every row; the stream still sees every row at every step."""
    batches: list[int] = []
    watch_calls(monkeypatch, S, "generate_ids", lambda model, prompts, *a, **kw: batches.append(len(prompts)))
    kw = dict(prompts=PROMPTS[:1], lang="en", pairs=(E.Pair("Good", "Bad", "en"),), layers=[1], seeds=[0, 1],
              instruction="", generation=E.Generation(max_new_tokens=4, temperature=1.5, top_p=0.9), n_boot=0)
    first = E.steer(tiny, coefs=[0.0, 4.0], **kw)
    calls: list[list[E.Partial]] = []
    moved = E.steer(tiny, coefs=[0.0, 6.0], stream=E.Stream(calls.append), **kw)
    assert batches == [4, 2]  # 2 seeds x (unsteered, steered), then the steered rows only
    assert calls and all(len(c) == 4 for c in calls)
    assert all(len({p.new_tokens for p in c}) == 1 for c in calls)  # reused rows keep pace with the batch
    assert [p.new_tokens for p in calls[0]] == [1] * 4
    base = lambda rep: rep.rows[rep.rows.coef == 0].continuation.tolist()  # noqa: E731
    seeds_0 = first.rows[first.rows.coef == 0].seed.tolist()
    assert {p.seed: p.text for p in calls[-1] if p.pair is None} == dict(zip(seeds_0, base(first)))
    assert base(moved) == base(first)
    memo.forget_all()  # nothing remembered: neither rows nor perplexities
    fresh = E.steer(tiny, coefs=[0.0, 6.0], **kw)
    assert batches[-1] == 4  # nothing remembered: every row decoded
    pd.testing.assert_frame_equal(moved.rows, fresh.rows)
    dry = E.steer(tiny.variant("local"), coefs=[0.0, 8.0], **kw)  # a remote run neither reuses nor keeps rows
    assert batches[-1] == 4 and base(dry) == base(fresh)


def test_a_browser_here_gets_a_core_while_the_cards_stream_and_scoring_gets_it_back(tiny, monkeypatch):
    from hubcore import cpu_threads

    seen: dict[str, list[int]] = {"generate": [], "score": []}
    watch_calls(monkeypatch, S, "generate_ids", lambda *a, **kw: seen["generate"].append(torch.get_num_threads()))
    watch_calls(monkeypatch, E, "continuation_perplexity", lambda *a, **kw: seen["score"].append(torch.get_num_threads()))
    kw = dict(prompts=PROMPTS[:1], lang="en", pairs=(E.Pair("Good", "Bad", "en"),), layers=[1], coefs=[0.0, 4.0],
              seeds=[0], instruction="", generation=E.Generation(max_new_tokens=2), n_boot=0)
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # the suite runs with 1 (tests/conftest.py): give it one to spare
    try:
        with cpu_threads.browser_watching(True):
            E.steer(tiny, stream=E.Stream(lambda partials: None), **kw)
            memo.forget_all()
            E.steer(tiny, **kw)  # not streamed: nothing to redraw, every core computes
        E.steer(tiny, stream=E.Stream(lambda partials: None), **{**kw, "coefs": [0.0, 5.0]})  # no viewer here
    finally:
        torch.set_num_threads(before)
    assert seen == {"generate": [1, 2, 2], "score": [2, 2, 2]}


def test_progress_is_reported_every_token_so_a_stop_ends_the_run_within_one(tiny):
    from hubcore.errors import Cancelled
    from hubcore.progress import cancellable

    seen: list[str] = []
    E.steer(tiny, PROMPTS[:1], "en", [E.Pair("Good", "Bad")], [1], [0.0, 4.0], instruction="",
            generation=E.Generation(max_new_tokens=6, greedy=True, frequency_penalty=0.0), n_boot=0,
            progress=lambda f, m: seen.append(m))
    assert [m for m in seen if m.startswith("Generating token")] == [f"Generating token {i}/6" for i in range(1, 7)]
    streamed: list[int] = []
    stop = {"now": False}

    def watch(partials):
        streamed.append(partials[0].new_tokens)
        stop["now"] = len(streamed) == 2

    with pytest.raises(Cancelled):
        E.steer(tiny, PROMPTS[:1], "en", [E.Pair("Good", "Bad")], [1], [0.0, 4.0], instruction="",
                generation=E.Generation(max_new_tokens=6, greedy=True, frequency_penalty=0.0), n_boot=0,
                progress=cancellable(None, lambda: stop["now"]), stream=watch)
    assert streamed == [1, 2]  # stopped at the next token


# ------------------------------------------------------------- a scorer whose data is missing

@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """HUBCORE_DATA_DIR at an empty folder: the Spanish lexicon (npm data) is missing."""
    from hubcore.scoring import lexicon

    empty = tmp_path / "empty-data"
    empty.mkdir()
    lexicon.load_lexicon.cache_clear()
    monkeypatch.setenv("HUBCORE_DATA_DIR", str(empty))
    yield empty
    monkeypatch.undo()
    lexicon.load_lexicon.cache_clear()


def test_missing_scorer_data_keeps_the_generations_with_an_empty_sentiment_column(tiny, no_data):
    rep = E.steer(tiny, PROMPTS[:2], "es", [E.preset("es")], [1], [0.0, 4.0], instruction="",
                  generation=E.Generation(max_new_tokens=3), n_boot=20)
    assert len(rep.rows) == 4 and rep.rows.continuation.str.len().sum() > 0
    assert rep.rows.sentiment.isna().all() and rep.rows.perplexity.notna().all()
    assert "Sentiment not scored" in rep.sentiment_warning and "install-data.sh" in rep.sentiment_warning
    assert rep.summary.perplexity.notna().all()
    assert rep.verdicts == ["No positive setting is named: sentiment was not scored.",
                            "No negative setting is named: sentiment was not scored."]


def test_cli_writes_the_generations_when_the_scorer_data_is_missing(cli_tiny, no_data, tmp_path, capsys):
    main, _ = cli_tiny
    out = tmp_path / "steer.csv"
    assert main(["steer", "--prompt", PROMPTS[1], "--coef", "4", "--max-new-tokens", "3", "--lang", "es",
                 "--out", str(out)]) == 0
    rows = pd.read_csv(out, keep_default_na=False)
    assert list(rows.columns) == README_ROW_COLUMNS and len(rows) == 1
    assert rows.sentiment[0] == "" and rows.continuation[0] != "" and float(rows.perplexity[0]) > 0
    err = capsys.readouterr().err
    assert err.count("warning: Sentiment not scored") == 1 and "wrote 1 rows" in err
    meta = _meta(out)
    assert "Sentiment not scored" in meta["values"]["sentiment_warning"]


def test_sweep_stderr_says_when_no_setting_differs_from_unsteered(cli_tiny, tmp_path, capsys):
    main, _ = cli_tiny
    out = tmp_path / "sweep.csv"
    assert main(["sweep", "--prompt", PROMPTS[0], "--prompt", PROMPTS[2], "--presets", "en", "--layers", "1",
                 "--coefs=-4,0,4", "--max-new-tokens", "3", "--bootstrap", "50", "--lang", "en",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    summary = pd.read_csv(tmp_path / "sweep_summary.csv")
    for word, sign in (("positive", 1), ("negative", -1)):
        best, line = E.setting_verdict(summary, sign)
        assert line in err
        assert (best is None) == ("No setting differs" in line or f"No {word} setting" in line)
    assert "largest positive shift with perplexity" not in err  # the old unconditional line


# ------------------------------------------------------------- registry: CLI and remote dry run

README_ROW_COLUMNS = ["prompt", "layer", "coef", "seed", "continuation", "sentiment", "perplexity", "relevance",
                      "in_language", "pair", "positive", "negative", "new_tokens"]


@pytest.fixture
def cli_tiny(tiny_model, monkeypatch):
    """`hubcore.cli.main` with model loading replaced by a tiny random Llama."""
    import hubcore.cli as cli

    model = tiny_model("llama")
    monkeypatch.setattr(cli, "_load", lambda args, kind="text": model)
    return cli.main, model


def _meta(path):
    import json

    return json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))


def test_cli_steer_and_sweep_write_the_documented_columns(cli_tiny, tmp_path, capsys):
    from hubcore.experiments.registry import default_layer

    main, model = cli_tiny
    out = tmp_path / "steer.csv"
    assert main(["steer", "--prompt", PROMPTS[0], "--prompt", PROMPTS[1], "--coef", "4", "--max-new-tokens", "3",
                 "--seeds", "2", "--lang", "en", "--out", str(out)]) == 0
    rows = pd.read_csv(out, keep_default_na=False)
    assert list(rows.columns) == README_ROW_COLUMNS
    assert len(rows) == 2 * 2 and set(rows.layer) == {default_layer(model)} and set(rows.pair) == {"Good − Bad"}
    assert not (tmp_path / "steer_summary.csv").exists()
    assert _meta(out)["experiment"] == "steer"
    assert f"sentiment scorer: VADER; layer {default_layer(model)}" in capsys.readouterr().err
    out = tmp_path / "sweep.csv"
    assert main(["sweep", "--prompt", PROMPTS[1], "--presets", "es", "--pair", "Good:Bad", "--pair", "Sí:No",
                 "--layers", "1,2", "--coefs=-4,0,4", "--max-new-tokens", "3", "--greedy", "--bootstrap", "20",
                 "--lang", "es", "--out", str(out)]) == 0
    rows = pd.read_csv(out, keep_default_na=False)
    assert list(rows.columns) == README_ROW_COLUMNS and len(rows) == 3 * 2 * 3
    # a --pair equal to a preset carries its language tag; others none
    assert set(rows.pair) == {"es: Bueno − Malo", "en: Good − Bad", "Sí − No"}
    summary = pd.read_csv(tmp_path / "sweep_summary.csv")
    assert list(summary.columns[:4]) == ["pair", "layer", "coef", "n"] and summary.columns[-1] == "shift"
    assert len(summary) == 3 * 2 * 3
    meta = _meta(out)
    assert meta["experiment"] == "sweep" and set(meta["tables"]) == {"rows", "summary"}
    err = capsys.readouterr().err
    assert "sentiment scorer" in err and "1 prompts" in err
    # the same computation called directly
    direct = E.steer(model, (PROMPTS[1],), "es", E.parse_pairs("es", ["Good:Bad", "Sí:No"]), [1, 2], [-4.0, 0.0, 4.0],
                     instruction=None, generation=E.Generation(max_new_tokens=3, greedy=True, frequency_penalty=0.0),
                     n_boot=20)
    assert rows.continuation.tolist() == direct.csv_frame().continuation.tolist()


def test_parse_pairs():
    pairs = E.parse_pairs("en,es", ["Good:Bad", "a:b:c"])
    assert [p.label for p in pairs] == ["en: Good − Bad", "es: Bueno − Malo", "a − b:c"]
    with pytest.raises(InputError, match="POSITIVE:NEGATIVE"):
        E.parse_pairs("", ["nocolon"])
    with pytest.raises(InputError, match="steering pairs"):
        E.parse_pairs("", [])


def test_steer_matches_through_the_remote_dry_run(tiny):
    """`remote="local"` (serialised as for NDIF, this project's modules hidden): the same sampled
    generations (per-row seeds) and scores as the plain local run."""
    dry = tiny.variant("local")
    kw = dict(prompts=PROMPTS[:2], lang="es", pairs=(E.preset("en"), E.preset("es")), layers=[1, 2], coefs=[0.0, 4.0],
              seeds=[0, 1], instruction="", generation=E.Generation(max_new_tokens=4, temperature=1.5, top_p=0.9),
              n_boot=20)
    a, b = E.steer(tiny, **kw), E.steer(dry, **kw)
    assert a.rows.continuation.tolist() == b.rows.continuation.tolist()
    for table in ("rows", "summary"):
        pd.testing.assert_frame_equal(a.tables[table], b.tables[table], check_exact=False, rtol=1e-6, atol=1e-6)
    one = E.steer_once(dry, PROMPTS[:1], "en", E.Pair("Good", "Bad"), layer=1, coef=4.0, instruction="",
                       generation=E.Generation(max_new_tokens=3, greedy=True, frequency_penalty=0.0), n_boot=0)
    assert one.experiment == "steer" and list(one.csv_frame().columns) == README_ROW_COLUMNS
