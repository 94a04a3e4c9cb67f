"""Model specs, loading from disk, user-facing load errors and the shared model registry."""

from __future__ import annotations

import socket
import uuid
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

import hubcore.models.registry as models
from hubcore.models.default import DEFAULT_MODEL_LABEL
from hubcore.errors import HubError, ModelLoadError, UnsupportedModelError
from hubcore.models import (
    TESTED_FAMILIES,
    ModelSpec,
    get_model,
    load_model,
    loaded_specs,
    prepare_tokenizer,
    resolve_device,
    resolve_dtype,
    wrap_model,
)
from hubcore.trace import capture
from tests.support.tiny_models import FAMILIES, build_tiny_model


@pytest.fixture(scope="module")
def saved_dirs(tmp_path_factory, tiny_tokenizer) -> dict[str, tuple[Path, torch.nn.Module]]:
    """Tiny llama and gpt2 checkpoints written with save_pretrained (+ their tokenizer)."""
    out = {}
    for family in ("llama", "gpt2"):
        path = tmp_path_factory.mktemp(f"tiny-{family}")
        model = build_tiny_model(family, len(tiny_tokenizer), seed=3)
        model.save_pretrained(path)
        tiny_tokenizer.save_pretrained(path)
        out[family] = (path, model)
    return out


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test loudly."""
    def refuse(*_a, **_k):
        raise AssertionError("hubcore tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def fresh_registry(monkeypatch):
    """An empty model registry for this test (the session's default model stays loaded)."""
    monkeypatch.setattr(models, "_registry", OrderedDict())
    monkeypatch.setattr(models, "_spec_locks", {})


# ----------------------------------------------------------------------------------- ModelSpec


def test_spec_kinds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mydir").mkdir()
    cases = {
        "default": "default", "": "default", "  Default ": "default",
        "model.gguf": "gguf", "/nowhere/Model.Q4_K_M.GGUF": "gguf",
        str(tmp_path): "local", "mydir": "local", "./not-there": "local", "/not/there": "local",
        "~/not-there": "local",
        "google/gemma-2-2b": "hub", "gpt2": "hub", "Qwen/Qwen2.5-0.5B": "hub",
    }
    for source, kind in cases.items():
        assert ModelSpec(source=source).origin == kind, source


def test_spec_is_a_cache_key_and_has_labels():
    assert ModelSpec() == ModelSpec(source=" default ")
    assert hash(ModelSpec()) == hash(ModelSpec(source="default"))
    assert ModelSpec(dtype="float32") != ModelSpec()
    assert ModelSpec().label == DEFAULT_MODEL_LABEL
    assert ModelSpec(source="google/gemma-2-2b").label == "google/gemma-2-2b"


@pytest.mark.parametrize("kwargs", [dict(dtype="float64"), dict(dtype="fp32"), dict(device="tpu"),
                                    dict(device="gpu"), dict(dtype="")])
def test_bad_dtype_or_device_is_a_model_load_error(kwargs):
    with pytest.raises(ModelLoadError) as info:
        ModelSpec(**kwargs)
    value = next(iter(kwargs.values()))
    assert f"'{value}'" in str(info.value)


def test_resolve_device_and_dtype():
    assert resolve_device("cpu") == "cpu"
    assert resolve_dtype("auto", "cpu") is torch.float32
    assert resolve_dtype("bfloat16", "cpu") is torch.bfloat16
    if torch.cuda.is_available():
        assert resolve_device("cuda") == "cuda"
    else:
        with pytest.raises(ModelLoadError):
            resolve_device("cuda")
        assert resolve_device("auto") in ("cpu", "mps")


def test_tested_families_are_the_ones_tested():
    assert set(TESTED_FAMILIES) == set(FAMILIES)


# ------------------------------------------------------------------------------- load failures


def test_unknown_hub_id_offline(no_network):
    name = f"no-such-org/no-such-model-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ModelLoadError) as info:
        load_model(ModelSpec(source=name))
    msg = str(info.value)
    assert name in msg and "offline" in msg
    assert "\n" not in msg


def test_malformed_source_is_a_model_load_error(no_network):
    with pytest.raises(ModelLoadError):
        load_model(ModelSpec(source="not a model id!!"))


def test_directory_without_config(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"\0" * 16)
    with pytest.raises(ModelLoadError) as info:
        load_model(ModelSpec(source=str(tmp_path)))
    assert "config.json" in str(info.value)


def test_missing_local_path(tmp_path):
    with pytest.raises(ModelLoadError):
        load_model(ModelSpec(source=str(tmp_path / "nope")))


def test_missing_and_corrupt_gguf(tmp_path):
    missing = tmp_path / "missing.gguf"
    with pytest.raises(ModelLoadError) as info:
        load_model(ModelSpec(source=str(missing)))
    assert str(missing) in str(info.value)
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"this is not a gguf file")
    with pytest.raises(ModelLoadError):
        load_model(ModelSpec(source=str(bad)))


def test_config_without_weights(tmp_path, saved_dirs):
    src, _ = saved_dirs["llama"]
    (tmp_path / "config.json").write_bytes((src / "config.json").read_bytes())
    with pytest.raises(ModelLoadError):
        load_model(ModelSpec(source=str(tmp_path)))


def test_encoder_decoder_is_unsupported_and_named(tmp_path):
    from transformers import T5Config, T5ForConditionalGeneration

    cfg = T5Config(vocab_size=64, d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2)
    T5ForConditionalGeneration(cfg).save_pretrained(tmp_path)
    with pytest.raises(UnsupportedModelError) as info:
        load_model(ModelSpec(source=str(tmp_path)))
    assert "T5ForConditionalGeneration" in str(info.value)


def test_encoder_only_is_unsupported_with_a_readable_reason(tmp_path, tiny_tokenizer):
    """BERT's config maps to BertLMHeadModel, so it gets as far as nnterp, which refuses it.
    The user must get one clear sentence naming the class, not a fragment of a module repr."""
    from transformers import BertConfig, BertModel

    cfg = BertConfig(vocab_size=len(tiny_tokenizer), hidden_size=16, num_hidden_layers=1,
                     num_attention_heads=2, intermediate_size=32)
    BertModel(cfg).save_pretrained(tmp_path)
    tiny_tokenizer.save_pretrained(tmp_path)
    with pytest.raises(UnsupportedModelError) as info:
        load_model(ModelSpec(source=str(tmp_path)))
    msg = str(info.value)
    assert "Bert" in msg
    assert "\n" not in msg
    assert not msg.rstrip().endswith("("), f"message ends in a truncated module repr: {msg!r}"


# ------------------------------------------------------------------------------ loading tiny


def test_tiny_llama_from_local_directory(saved_dirs, tiny_tokenizer):
    path, original = saved_dirs["llama"]
    seen: list[float] = []
    hub = load_model(ModelSpec(source=str(path)), progress=lambda f, m: seen.append(f))
    card = hub.card
    assert hub.spec.origin == "local"
    assert card.name == str(path)
    assert card.family == "llama"
    assert card.architecture == "LlamaForCausalLM"
    assert card.layers == hub.num_layers == original.config.num_hidden_layers
    assert card.width == original.config.hidden_size
    assert card.vocab == len(tiny_tokenizer)
    assert card.parameters == sum(p.numel() for p in original.parameters())
    assert (card.dtype, card.device) == ("float32", "cpu")
    assert card.load_seconds >= 0
    assert card.lens_check < 1e-4
    assert dict(card.as_rows())["Family"] == "llama (LlamaForCausalLM)"
    assert card.to_dict()["layers"] == card.layers
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert hub.tokenizer.padding_side == "left"
    # the weights round-tripped: same hidden states as the in-memory model
    text = "The capital of France is Paris."
    enc = tiny_tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        want = original(**enc, output_hidden_states=True).hidden_states
    got = capture(hub, [text], positions="all").states[0]
    for layer in range(card.layers):
        torch.testing.assert_close(got[:, layer], want[layer][0], atol=1e-5, rtol=0)


def test_dtype_override_is_applied(saved_dirs):
    path, _ = saved_dirs["gpt2"]
    hub = load_model(ModelSpec(source=str(path), dtype="bfloat16", device="cpu"))
    assert hub.card.dtype == "bfloat16"
    assert next(hub.hf.parameters()).dtype is torch.bfloat16
    states = capture(hub, ["hello there"]).states[0]
    assert states.dtype == torch.float32  # captures are always float32


def test_get_model_shares_and_evicts(saved_dirs, fresh_registry, monkeypatch):
    monkeypatch.setenv("HUBCORE_MAX_MODELS", "1")
    a_spec = ModelSpec(source=str(saved_dirs["llama"][0]))
    b_spec = ModelSpec(source=str(saved_dirs["gpt2"][0]))
    a = get_model(a_spec)
    assert get_model(ModelSpec(source=str(saved_dirs["llama"][0]))) is a
    b = get_model(b_spec)
    assert b is not a
    assert loaded_specs() == [b_spec]  # a was evicted
    a2 = get_model(a_spec)
    assert a2 is not a and loaded_specs() == [a_spec]


def test_get_model_evicts_least_recently_used(saved_dirs, fresh_registry, monkeypatch):
    monkeypatch.setenv("HUBCORE_MAX_MODELS", "2")
    # a third distinct spec: the same checkpoint under a different dtype
    a = ModelSpec(source=str(saved_dirs["llama"][0]))
    b = ModelSpec(source=str(saved_dirs["gpt2"][0]))
    c = ModelSpec(source=str(saved_dirs["gpt2"][0]), dtype="bfloat16")
    first_a = get_model(a)
    get_model(b)
    assert get_model(a) is first_a  # touch a: b is now least recently used
    get_model(c)
    assert loaded_specs() == [a, c]
    assert get_model(a) is first_a


def test_get_model_loads_once_under_concurrency(fresh_registry, monkeypatch):
    import threading
    import time

    calls: list[ModelSpec] = []

    def slow_load(spec, progress=None):
        calls.append(spec)
        time.sleep(0.3)
        return object()

    monkeypatch.setattr(models, "load_model", slow_load)
    spec = ModelSpec(source="some-org/some-model")
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(get_model(spec))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len(got) == 4 and all(g is got[0] for g in got)


def test_max_models_is_at_least_one(monkeypatch):
    monkeypatch.setenv("HUBCORE_MAX_MODELS", "0")
    assert models.max_loaded_models() == 1
    monkeypatch.delenv("HUBCORE_MAX_MODELS")
    assert models.max_loaded_models() == 2


def test_prepare_tokenizer_pads_left_with_eos_when_no_pad(tiny_tokenizer):
    import copy

    tok = copy.deepcopy(tiny_tokenizer)
    tok.pad_token = None
    tok.padding_side = "right"
    assert tok.pad_token_id is None
    prepare_tokenizer(tok)
    assert tok.padding_side == "left"
    assert tok.pad_token_id == tok.eos_token_id


def test_wrap_model_names_and_errors(tiny_tokenizer):
    hf = build_tiny_model("qwen3", len(tiny_tokenizer))
    hub = wrap_model(hf, tiny_tokenizer, name="my-qwen3")
    assert hub.card.name == "my-qwen3"
    assert hub.hf is hf
    with pytest.raises(HubError):
        wrap_model(torch.nn.Linear(4, 4), tiny_tokenizer)
