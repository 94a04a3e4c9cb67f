"""Interventions: exact positions/layers, once-per-prompt KV semantics, batching, norm, sweeps.

Tiny random models (fast) check shapes, positions, layer 0, and that generation equals a
hand-written reference (HF forward hooks + plain greedy decoding with the cache). The real
default model checks that coefficient 0 reproduces `hf.generate` token for token and that
batched coefficient sweeps equal rows run alone.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from hubcore import steering as S
from hubcore.errors import InputError
import hubcore.steering.generation as generation
from hubcore.steering import Intervention
from hubcore.trace import capture
from tests.support.spies import watch_calls

PROMPTS = ["The capital of France is", "Hola", "def add(a, b):"]


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def tiny(request, tiny_model):
    return tiny_model(request.param)


def _vec(model, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(model.hidden_size, generator=g) * scale


def _block(model, layer: int) -> torch.nn.Module:
    """The HF module whose output is our `layer` (>= 1)."""
    return model.nn.layers[layer - 1]._module


def _hf_greedy(model, prompts, n: int) -> list[list[int]]:
    """Plain transformers greedy generation (left-padded batch): new ids, EOS and after dropped."""
    enc = model.tokenizer(list(prompts), padding=True, return_tensors="pt")
    with torch.inference_mode():
        out = model.hf.generate(
            **enc, max_new_tokens=n, do_sample=False, pad_token_id=model.tokenizer.pad_token_id
        )
    eos = S.eos_ids(model)
    rows = []
    for row in out[:, enc["input_ids"].shape[1]:].tolist():
        cut = next((i for i, t in enumerate(row) if t in eos), len(row))
        rows.append(row[:cut])
    return rows


def _edit_hook(module, delta: torch.Tensor, every_step: bool) -> dict[str, Any]:
    """Reference edit by hand: add `delta` to the last column of `module`'s output.

    Prompt pass only (its input has > 1 column), or at every forward (`every_step`).
    """
    state: dict[str, Any] = {"calls": 0, "edits": 0}

    def hook(mod, args, out):
        h = out[0] if isinstance(out, tuple) else out
        state["calls"] += 1
        if every_step or h.shape[1] > 1:
            state["edits"] += 1
            h = h.clone()
            h[:, -1] += delta.to(h.dtype)
            return (h, *out[1:]) if isinstance(out, tuple) else h
        return None

    state["handle"] = module.register_forward_hook(hook)
    return state


def _observe(module) -> tuple[Any, list[torch.Tensor]]:
    """Record the last column of `module`'s input at every call (sees edits made upstream)."""
    seen: list[torch.Tensor] = []

    def pre(mod, args, kwargs):
        h = args[0] if args else kwargs["hidden_states"]
        seen.append(h[:, -1].detach().float().clone())

    return module.register_forward_pre_hook(pre, with_kwargs=True), seen


# ------------------------------------------------------------------------- tiny: positions, shapes


def test_add_at_a_middle_position_changes_only_that_state_then_causal_successors(tiny):
    layer, pos = 1, 2
    v = _vec(tiny, scale=10.0)
    plain = S.capture_with(tiny, PROMPTS)
    steered = S.capture_with(tiny, PROMPTS, [Intervention(layer, v, 3.0, positions=[pos])])
    for p, s in zip(plain, steered):
        assert s.shape == p.shape == (p.shape[0], tiny.num_layers + 1, tiny.hidden_size)
        torch.testing.assert_close(s[:, :layer], p[:, :layer])  # earlier layers untouched
        torch.testing.assert_close(s[:pos], p[:pos])  # earlier positions untouched, every layer
        torch.testing.assert_close(s[pos, layer], p[pos, layer] + 3.0 * v, atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(s[pos + 1:, layer], p[pos + 1:, layer])  # same layer: only pos
        if p.shape[0] > pos + 1:  # later positions see the edit in later layers (attention)
            assert (s[pos + 1:, layer + 1:] - p[pos + 1:, layer + 1:]).abs().max() > 1e-3


def test_last_position_replace_and_negative_index(tiny):
    layer = tiny.num_layers - 1
    v = _vec(tiny, 1)
    plain = S.capture_with(tiny, PROMPTS, layers=[layer, tiny.num_layers])
    rep = S.capture_with(tiny, PROMPTS, [Intervention(layer, v, 2.0, "last", kind="replace")],
                         layers=[layer, tiny.num_layers])
    neg = S.capture_with(tiny, PROMPTS, [Intervention(layer, v, 2.0, [-1], kind="replace")],
                         layers=[layer, tiny.num_layers])
    for p, r, n in zip(plain, rep, neg):
        torch.testing.assert_close(r[:-1], p[:-1])  # causal: nothing before the last token moves
        torch.testing.assert_close(r[-1, 0], 2.0 * v, atol=1e-5, rtol=1e-5)  # the state IS coef*v
        assert (r[-1, 1] - p[-1, 1]).abs().max() > 1e-3
        torch.testing.assert_close(n, r)  # -1 == "last"


def test_layer_zero_is_the_embedding_output(tiny):
    v = _vec(tiny, 2)
    plain = S.capture_with(tiny, PROMPTS, layers=[0, 1])
    st = S.capture_with(tiny, PROMPTS, [Intervention(0, v, 1.5, positions=[0, -1])], layers=[0, 1])
    for p, s in zip(plain, st):
        torch.testing.assert_close(s[[0, -1], 0], p[[0, -1], 0] + 1.5 * v, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(s[1:-1, 0], p[1:-1, 0])
        assert (s[-1, 1] - p[-1, 1]).abs().max() > 1e-3  # block 1 consumed the edited input
    # and the capture engine (no intervention) agrees with capture_with
    ref = capture(tiny, PROMPTS, positions="all", layers=[0, 1])
    for p, c in zip(plain, ref.states):
        torch.testing.assert_close(p, c, atol=1e-5, rtol=1e-5)


def test_all_positions_and_per_row_vectors_coefs_positions(tiny):
    vs = torch.stack([_vec(tiny, i) for i in range(len(PROMPTS))])
    plain = S.capture_with(tiny, PROMPTS, layers=[1])
    allpos = S.capture_with(tiny, PROMPTS, [Intervention(1, vs, [1.0, 0.0, -2.0], None)], layers=[1])
    for i, (p, a) in enumerate(zip(plain, allpos)):
        coef = [1.0, 0.0, -2.0][i]
        torch.testing.assert_close(a[:, 0], p[:, 0] + coef * vs[i], atol=1e-5, rtol=1e-5)
    rows = S.capture_with(tiny, PROMPTS, [Intervention(1, vs, 1.0, [[0], [1], [-2]])], layers=[1])
    for i, (p, r) in enumerate(zip(plain, rows)):
        k = [0, 1, p.shape[0] - 2][i]
        changed = ((r - p).abs().amax(dim=(1, 2)) > 1e-6).nonzero().flatten().tolist()
        assert changed == [k]


def test_rows_restricts_per_row_fields_and_tensor_positions_work(tiny):
    vs = torch.stack([_vec(tiny, i, scale=5.0) for i in range(len(PROMPTS))])
    iv = Intervention(2, vs, torch.tensor([1.0, 2.0, 3.0]), [[1], [0], [-1]])
    full = S.forward_with(tiny, PROMPTS, [iv])
    sub = S.forward_with(tiny, [PROMPTS[2], PROMPTS[0]], [iv.rows([2, 0])])
    torch.testing.assert_close(sub, full[[2, 0]], atol=1e-4, rtol=1e-4)
    shared = Intervention(2, vs[0], 2.0, torch.tensor([1, -1]))
    same = Intervention(2, vs[0], 2.0, [1, -1])
    torch.testing.assert_close(S.forward_with(tiny, PROMPTS, [shared]), S.forward_with(tiny, PROMPTS, [same]))


def test_forward_with_shape_and_logits_match_plain_model(tiny):
    logits = S.forward_with(tiny, PROMPTS)
    assert logits.shape == (len(PROMPTS), tiny.card.vocab) and logits.dtype == torch.float32
    for i, p in enumerate(PROMPTS):
        ids = tiny.tokenizer(p, return_tensors="pt")
        with torch.inference_mode():
            ref = tiny.hf(**ids).logits[0, -1].float()
        torch.testing.assert_close(logits[i], ref, atol=1e-4, rtol=1e-4)
    big = S.forward_with(tiny, PROMPTS, [Intervention(1, _vec(tiny, scale=50.0))])
    assert (big - logits).abs().max() > 1e-2


def test_bad_interventions_are_user_errors(tiny):
    v = _vec(tiny)
    for iv in (
        Intervention(tiny.num_layers + 1, v),
        Intervention(-1, v),
        Intervention(1, v[:-1]),
        Intervention(1, torch.stack([v, v])),  # 2 rows for a batch of 3
        Intervention(1, v, [1.0, 2.0]),
        Intervention(1, v, 1.0, [99]),
        Intervention(1, v, 1.0, "first"),
        Intervention(1, v, kind="multiply"),  # type: ignore[arg-type]
        Intervention(1, v, 1.0, [[0], [1]]),  # per-row positions for 2 of 3 rows
        Intervention(1, v, 1.0, []),
    ):
        with pytest.raises(InputError):
            S.forward_with(tiny, PROMPTS, [iv])


# ------------------------------------------------------------------------ tiny: vectors, norms


def test_steering_vectors(tiny):
    hd = S.hidden_difference(tiny, ["Hola", "Paris"], ["The"], layer=2)
    cap = capture(tiny, ["Hola", "Paris", "The"], layers=[2]).stacked()[:, 0]
    assert hd.shape == (2, tiny.hidden_size)
    torch.testing.assert_close(hd, cap[:2] - cap[2:3])
    ud = S.unembedding_difference(tiny, " capital", " Paris")
    a, b = S.first_token_id(tiny, " capital"), S.first_token_id(tiny, " Paris")
    w = tiny.hf.get_output_embeddings().weight.float()
    torch.testing.assert_close(ud, w[a] - w[b])
    if tiny.hf.config.tie_word_embeddings:
        e = tiny.hf.get_input_embeddings().weight.float()
        torch.testing.assert_close(ud, e[a] - e[b])
    with pytest.raises(InputError):
        S.hidden_difference(tiny, ["a", "b"], ["c", "d", "e"], layer=1)


@pytest.mark.parametrize("kind", ["add", "replace"])
def test_norm_preserving_keeps_the_l2_norm(tiny, kind):
    layer = 2
    v = _vec(tiny, 3, scale=20.0)
    plain = S.capture_with(tiny, PROMPTS, layers=[layer])
    st = S.capture_with(
        tiny, PROMPTS, [Intervention(layer, v, 1.0, [1, -1], kind=kind, norm_preserving=True)], layers=[layer]
    )
    for p, s in zip(plain, st):
        for k in (1, -1):
            torch.testing.assert_close(s[k, 0].norm(), p[k, 0].norm(), rtol=1e-5, atol=1e-5)
            cos = torch.nn.functional.cosine_similarity(s[k, 0], p[k, 0], dim=0)
            assert cos < 0.99  # the direction did change
        torch.testing.assert_close(s[2:-1], p[2:-1])


# ------------------------------------------------------------ tiny: generation semantics (KV cache)


def test_no_intervention_equals_hf_generate_batched_and_alone(tiny):
    ours = S.generate_ids(tiny, PROMPTS, max_new_tokens=6)
    assert ours == _hf_greedy(tiny, PROMPTS, 6)
    assert ours == [S.generate_ids(tiny, [p], max_new_tokens=6)[0] for p in PROMPTS]
    texts = S.generate(tiny, PROMPTS, [Intervention(2, _vec(tiny), 0.0)], max_new_tokens=6)
    assert texts == [tiny.tokenizer.decode(r, skip_special_tokens=True) for r in ours]


def test_edit_is_applied_once_in_the_prompt_pass_only(tiny):
    _check_once_semantics(tiny, layer=2, n=6, prompts=PROMPTS)


def _check_once_semantics(tiny, layer: int, n: int, prompts) -> tuple[list, list]:
    """Ours == a hand-made reference (HF hook edits the prompt pass, then plain cached greedy).

    An observer before the next block records the last column at every forward: the prompt
    pass shows the edit exactly once (+delta, not 2*delta), decode steps show no edit; and a
    reference that edits at every step generates something else, so this test can fail.
    """
    typical = S.capture_with(tiny, prompts, layers=[layer])[0][-1, 0].norm()
    delta = _vec(tiny, 4) / _vec(tiny, 4).norm() * typical  # as large as the state itself
    iv = [Intervention(layer, delta, 1.0, "last")]
    obs_handle, seen_plain = _observe(_block(tiny, layer + 1))
    try:
        S.generate_ids(tiny, prompts, max_new_tokens=n)
    finally:
        obs_handle.remove()
    obs_handle, seen_ours = _observe(_block(tiny, layer + 1))
    try:
        ours = S.generate_ids(tiny, prompts, iv, max_new_tokens=n)
    finally:
        obs_handle.remove()
    # prompt pass: the steered state is the plain one plus delta, once
    torch.testing.assert_close(seen_ours[0], seen_plain[0] + delta, atol=1e-4, rtol=1e-5)
    assert len(seen_ours) == n  # 1 prompt pass + n-1 cached single-token steps

    ref_state = _edit_hook(_block(tiny, layer), delta, every_step=False)
    obs_handle, seen_ref = _observe(_block(tiny, layer + 1))
    try:
        ref = _hf_greedy(tiny, prompts, n)
    finally:
        ref_state["handle"].remove()
        obs_handle.remove()
    assert ref_state["edits"] == 1 and ref_state["calls"] == n
    assert ours == ref
    for a, b in zip(seen_ours, seen_ref):  # every step's state, not just the tokens
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)

    every = _edit_hook(_block(tiny, layer), delta, every_step=True)
    obs_handle, seen_every = _observe(_block(tiny, layer + 1))
    try:
        ref_every = _hf_greedy(tiny, prompts, n)
    finally:
        every["handle"].remove()
        obs_handle.remove()
    assert every["edits"] == n
    assert len(seen_every) == n
    for step in range(1, n):  # editing every step moves every decode-step state: ours did not
        assert (seen_every[step] - seen_ours[step]).abs().max() > 1e-3 * float(typical)
    return ours, ref_every


def test_batched_coefs_equal_rows_alone_and_sweep_is_one_batch(tiny, monkeypatch):
    v = _vec(tiny, 5, scale=8.0)
    coefs = [0.0, 1.0, 4.0]
    rows = [(p, c) for p in PROMPTS[:2] for c in coefs]
    iv = Intervention(1, v, [c for _, c in rows])
    batched = S.forward_with(tiny, [p for p, _ in rows], [iv])
    alone = torch.cat([S.forward_with(tiny, [p], [Intervention(1, v, c)]) for p, c in rows])
    torch.testing.assert_close(batched, alone, atol=1e-4, rtol=1e-4)

    calls: list[int] = []
    watch_calls(monkeypatch, generation, "generate_ids", lambda model, prompts, *a, **kw: calls.append(len(prompts)))
    df = S.sweep_generate(tiny, PROMPTS[:2], v, 1, coefs, max_new_tokens=5)
    assert calls == [len(rows)]  # every coefficient of the sweep in one batched generation
    assert list(df.columns) == ["item", "coef", "prompt", "continuation"]
    assert list(zip(df["item"], df["coef"])) == [(i, c) for i in range(2) for c in coefs]
    for (p, c), text in zip(rows, df["continuation"]):
        assert text == S.generate(tiny, [p], [Intervention(1, v, c)], max_new_tokens=5)[0]
    calls.clear()
    small = S.sweep_generate(tiny, PROMPTS[:2], v, 1, coefs, max_new_tokens=5, token_budget=1)
    assert calls == [3, 3]  # over budget: split by item, never by coefficient
    assert small["continuation"].tolist() == df["continuation"].tolist()


def test_sampling_is_seeded_and_stop_at_newline_cuts(tiny):
    a = S.generate(tiny, PROMPTS, max_new_tokens=6, greedy=False, temperature=1.5, seed=3)
    b = S.generate(tiny, PROMPTS, max_new_tokens=6, greedy=False, temperature=1.5, seed=3)
    assert a == b
    nucleus = S.generate_ids(tiny, PROMPTS, max_new_tokens=4, greedy=False, top_p=1e-6, seed=9)
    assert nucleus == S.generate_ids(tiny, PROMPTS, max_new_tokens=4)  # top-p -> 0 is greedy
    texts = S.generate(tiny, PROMPTS, max_new_tokens=8, greedy=False, temperature=3.0, stop_at_newline=True)
    assert all("\n" not in t for t in texts)


# ------------------------------------------------------------------------ the real default model

DEFAULT_PROMPTS = ["La capital de Francia es", "法国的首都是", "The capital of France is"]


@pytest.mark.default_model
def test_default_coef_zero_equals_hf_generate(default_model):
    m = default_model
    iv = [Intervention(6, S.unembedding_difference(m, " Madrid", " Paris"), 0.0)]
    batched = S.generate_ids(m, DEFAULT_PROMPTS, iv, max_new_tokens=8)
    assert batched == _hf_greedy(m, DEFAULT_PROMPTS, 8)
    for p, row in zip(DEFAULT_PROMPTS, batched):
        assert S.generate_ids(m, [p], max_new_tokens=8)[0] == row == _hf_greedy(m, [p], 8)[0]
    assert S.generate(m, DEFAULT_PROMPTS, max_new_tokens=8) == [
        m.tokenizer.decode(r, skip_special_tokens=True) for r in batched
    ]


@pytest.mark.default_model
def test_default_sweep_batched_equals_alone_and_steering_changes_text(default_model):
    m = default_model
    layer = 6
    v = S.hidden_difference(m, ["Good"], ["Bad"], layer=layer)[0]
    prompts = DEFAULT_PROMPTS[:2]
    coefs = [0.0, 20.0]
    df = S.sweep_generate(m, prompts, v, layer, coefs, max_new_tokens=6)
    base = S.generate(m, prompts, max_new_tokens=6)
    assert df[df.coef == 0.0]["continuation"].tolist() == base
    steered = df[df.coef == 20.0]["continuation"].tolist()
    assert steered != base  # a large add changes the output
    for p, text in zip(prompts, steered):
        assert S.generate(m, [p], [Intervention(layer, v, 20.0)], max_new_tokens=6) == [text]
    logits = S.forward_with(m, prompts * 2, [Intervention(layer, v, [0.0, 0.0, 20.0, 20.0])])
    alone = torch.cat([S.forward_with(m, [p], [Intervention(layer, v, c)]) for c in (0.0, 20.0) for p in prompts])
    torch.testing.assert_close(logits, alone, atol=2e-3, rtol=1e-4)


@pytest.mark.default_model
def test_default_edit_once_matches_hook_reference_and_every_step_differs(default_model):
    ours, every = _check_once_semantics(default_model, layer=6, n=6, prompts=DEFAULT_PROMPTS[:1])
    assert ours != every  # editing at every generated token would give another text


# ------------------------------------------------ shared-prefix prompt pass (sweeps at "last")

SHARED_PROMPTS = [
    "The capital of France is",
    "Hola",
    "La capital de España es Madrid. La capital de Francia es",  # longer than gemma's window (8)
    "def add(a, b):",
]


def _spy_shared(monkeypatch) -> list[int]:
    """Count shared-prefix prompt passes (rows each), still running the real one."""
    used: list[int] = []
    watch_calls(monkeypatch, generation, "shared_prefix_pass", lambda model, encoded: used.append(len(encoded)))
    return used


@pytest.mark.parametrize("family", ["llama", "gpt2", "gemma3_text"])
def test_shared_prefix_generation_equals_unshared_path(tiny_model, family, monkeypatch):
    m = tiny_model(family)
    used = _spy_shared(monkeypatch)
    g = torch.Generator().manual_seed(7)
    coefs = [0.0, 1.0, -3.0, 6.0]
    rows = [(i, c) for i in range(len(SHARED_PROMPTS)) for c in coefs]
    rows = rows[::2] + rows[1::2]  # rows of one prompt need not be adjacent
    prompts = [SHARED_PROMPTS[i] for i, _ in rows]
    vs = torch.randn(len(SHARED_PROMPTS), m.hidden_size, generator=g) * 3.0
    eos_dir = S.unembedding_difference(m, "<eos>", " the") * 50.0
    cases = [
        Intervention(0, vs[[i for i, _ in rows]], [c for _, c in rows]),
        Intervention(2, vs[[i for i, _ in rows]], [c for _, c in rows], kind="replace"),
        Intervention(1, vs[0], [c for _, c in rows], norm_preserving=True),
        # rows with coef > 0 are pushed to EOS at once: they stop while the others go on
        Intervention(m.num_layers, eos_dir, [max(c, 0.0) for _, c in rows]),
    ]
    for iv in cases:
        plain = S.generate_ids(m, prompts, [iv], max_new_tokens=5)
        shared = S.generate_ids(m, prompts, [iv], max_new_tokens=5, share_prefix=True)
        assert shared == plain
    assert used == [len(rows)] * len(cases)
    assert any(r == [] for r in plain) and any(len(r) == 5 for r in plain)  # EOS rows, full rows
    # sampling draws the same numbers in the same order
    a = S.generate_ids(m, prompts, cases[0:1], max_new_tokens=4, greedy=False, temperature=2.0, seed=1)
    b = S.generate_ids(m, prompts, cases[0:1], max_new_tokens=4, greedy=False, temperature=2.0, seed=1,
                       share_prefix=True)
    assert a == b


def test_shared_prefix_falls_back_when_it_cannot_apply(tiny, monkeypatch):
    used = _spy_shared(monkeypatch)
    v = _vec(tiny, 3, scale=4.0)
    prompts = [PROMPTS[0]] * 2 + [PROMPTS[1]] * 2
    for iv in (Intervention(1, v, [0.0, 2.0, 0.0, 2.0], [-2]), Intervention(1, v, 1.0, None)):
        assert S.generate_ids(tiny, prompts, [iv], 4, share_prefix=True) == S.generate_ids(tiny, prompts, [iv], 4)
    assert used == []
    S.generate_ids(tiny, PROMPTS, [Intervention(1, v)], 4, share_prefix=True)  # no prompt repeats
    assert used == []
    S.generate_ids(tiny, prompts, [], 4, share_prefix=True)  # no intervention: prefix still shared
    assert used == [4]
    one = S.Encoded(ids=[5], offsets=[(0, 1)])
    two = S.Encoded(ids=[1, 5], offsets=[(0, 0), (0, 1)])
    assert not S.can_share_prefix([one, one], [])  # a 1-token prompt has no prefix
    assert S.can_share_prefix([two, two], [Intervention(1, v)])


def test_sweep_uses_the_shared_prefix(tiny, monkeypatch):
    used = _spy_shared(monkeypatch)
    v = _vec(tiny, 5, scale=8.0)
    df = S.sweep_generate(tiny, PROMPTS, v, 1, [0.0, 2.0, 5.0], max_new_tokens=4)
    assert used == [9]
    used.clear()
    ref = S.sweep_generate(tiny, PROMPTS, v, 1, [0.0, 2.0, 5.0], positions=[-1], max_new_tokens=4)
    assert used == []  # same edit spelled as an index list: the unshared path
    assert df["continuation"].tolist() == ref["continuation"].tolist()


@pytest.mark.default_model
def test_default_shared_prefix_sweep_equals_unshared(default_model, monkeypatch):
    m = default_model
    used = _spy_shared(monkeypatch)
    layer = m.num_layers // 2
    v = S.hidden_difference(m, ["Good"], ["Bad"], layer=layer)[0]
    prompts = ["2 + 3 = 5\n7 + 1 = 8\n4 + 4 =", "The capital of France is"]
    coefs = [0.0, 1.0, 3.0]
    rows = [(p, c) for p in prompts for c in coefs]
    iv = Intervention(layer, v, [c for _, c in rows])
    plain = S.generate_ids(m, [p for p, _ in rows], [iv], max_new_tokens=4)
    shared = S.generate_ids(m, [p for p, _ in rows], [iv], max_new_tokens=4, share_prefix=True)
    assert used == [len(rows)]
    assert shared == plain
