"""Remote execution without a network: the dry run's fidelity, NDIF failures as one sentence
(CLI exit status 2, page error box with earlier results kept), and the NDIF key never leaking."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from hubcore import cli
from hubcore.errors import HubError
from hubcore.models import ModelSpec, parse_remote
from hubcore.models.remote import RemoteError, scrub, translate, using_api_key
from tests.support.tiny_models import build_tiny_model

SECRET = "ndif-secret-key-7f3a9c"
HUB_ID = "hubtest/tiny-llama"


@pytest.fixture
def hub_cache(tmp_path, monkeypatch, tiny_tokenizer) -> Path:
    """A Hugging Face cache holding a tiny model under a hub id (config, tokenizer, weights)."""
    root = tmp_path / "hf"
    repo = root / "hub" / "models--hubtest--tiny-llama"
    commit = "0" * 40
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    build_tiny_model("llama", len(tiny_tokenizer)).save_pretrained(snap)
    tiny_tokenizer.save_pretrained(snap)
    monkeypatch.setenv("HF_HOME", str(root))
    monkeypatch.setenv("HF_HUB_CACHE", str(root / "hub"))
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(root / "hub"))
    return root


def _files_text(folder: Path) -> str:
    return "\n".join(p.read_text(errors="ignore") for p in folder.rglob("*") if p.is_file()
                     and p.suffix in (".csv", ".json", ".txt", ".log"))


def test_parse_remote_values():
    assert parse_remote(None) == "off" and parse_remote("LOCAL") == "local" and parse_remote(True) == "ndif"
    assert parse_remote("https://ndif.my-lab.org/") == "https://ndif.my-lab.org"
    for bad in ("cloud", "ftp://x", "http://"):
        with pytest.raises(HubError) as info:
            parse_remote(bad)
        assert "\n" not in str(info.value)


def test_ndif_without_network_fails_fast_with_one_sentence(hub_cache, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NDIF_API_KEY", SECRET)
    out = tmp_path / "lens.csv"
    start = time.perf_counter()
    status = cli.main(["lens", "--text", "hello", "--model", HUB_ID, "--remote", "ndif", "--out", str(out)])
    elapsed = time.perf_counter() - start
    err = capsys.readouterr().err
    assert status == 2
    assert elapsed < 60
    lines = [l for l in err.splitlines() if l.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err
    assert "network" in lines[0] or "reached" in lines[0]
    assert SECRET not in err and not out.exists()
    assert SECRET not in _files_text(tmp_path)


def test_ndif_without_a_key_is_one_sentence(hub_cache, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NDIF_API_KEY", raising=False)
    status = cli.main(["lens", "--text", "hello", "--model", HUB_ID, "--remote", "ndif",
                       "--out", str(tmp_path / "x.csv")])
    err = capsys.readouterr().err
    assert status == 2 and "No NDIF API key" in err and err.count("error:") == 1


def test_self_hosted_url_unreachable_is_one_sentence(hub_cache, tmp_path, capsys):
    status = cli.main(["lens", "--text", "hello", "--model", HUB_ID, "--remote", "http://127.0.0.1:9",
                       "--out", str(tmp_path / "x.csv")])
    err = capsys.readouterr().err
    assert status == 2 and err.count("error:") == 1 and "Traceback" not in err


def test_ndif_refuses_models_it_cannot_name(capsys, tmp_path):
    for model in ("default", str(tmp_path)):
        status = cli.main(["lens", "--text", "hi", "--model", model, "--remote", "ndif",
                           "--out", str(tmp_path / "x.csv")])
        err = capsys.readouterr().err
        assert status == 2 and "hub id" in err and err.count("error:") == 1


def test_translate_names_the_failure_and_never_the_key():
    with using_api_key(SECRET):
        cases = {
            f"Failed to send request: 401 Unauthorized (key {SECRET})": "rejected the API key",
            "ConnectError: [Errno -2] Name or service not known": "cannot be reached",
            "Model key meta-llama/x is not running on any deployment": "not hosted",
            "Payload too large (413)": "too large",
            "Traceback ...\nRuntimeError: CUDA error on the server": "failed on",
        }
        for message, words in cases.items():
            text = translate(message, "https://api.ndif.us")
            assert words in text, (message, text)
            assert SECRET not in text and "\n" not in text
        assert SECRET not in scrub(f"a {SECRET} b")


def test_key_set_in_the_environment_appears_nowhere(tiny_model, tmp_path, capsys, monkeypatch):
    """A run with the key in the environment: not in stdout/stderr, the CSV, the JSON sidecar."""
    monkeypatch.setenv("NDIF_API_KEY", SECRET)
    model = tiny_model("llama").variant("local")
    monkeypatch.setattr(cli, "_load", lambda args, kind="text": model)
    out = tmp_path / "lens.csv"
    assert cli.main(["lens", "--text", "hello world", "--remote", "local", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert out.exists() and out.with_suffix(".json").exists()
    assert SECRET not in _files_text(tmp_path)
    assert SECRET not in repr(ModelSpec(remote="ndif")) and SECRET not in str(hash(ModelSpec(remote="ndif")))


def test_dry_run_fails_on_code_not_shipped_by_value(tiny_model):
    """The dry run hides this project from the deserialising side, as a server would: a trace
    body calling a project function that is not shipped by value fails there."""
    import nnsight

    from hubcore.similarity import cosine_matrix  # not in models.remote.IN_TRACE_MODULES

    model = tiny_model("llama").variant("local")
    nn = model.nn
    with pytest.raises(Exception) as info:
        with model.trace(input_ids=torch.tensor([[1, 5, 6]])):
            h = nn.layers[0].output
            nnsight.save(cosine_matrix(h[0], h[0]))
    assert "hubcore" in str(info.value)


def test_dry_run_returns_only_what_the_body_saved(tiny_model):
    """Only values saved under a fresh name come back (what a server returns): a list filled
    inside the body but never saved stays empty on the caller's side."""
    import nnsight

    model = tiny_model("llama").variant("local")
    nn = model.nn
    kept: list = []
    with model.trace(input_ids=torch.tensor([[1, 5, 6]])):
        kept.append(nn.layers[0].output)
        saved = nnsight.save([nn.layers[1].output])
    assert kept == [] and len(saved) == 1 and saved[0].shape[-1] == model.hidden_size


def test_remote_error_is_a_hub_error():
    assert issubclass(RemoteError, HubError)


@pytest.mark.default_model
def test_page_keeps_its_results_when_ndif_fails(default_model, hub_cache, monkeypatch):
    """Switching the sidebar to NDIF without a network: one error box, and the Logit Lens page
    still shows the result it had (computed on the model that last loaded)."""
    from streamlit.testing.v1 import AppTest

    from app.registry import ROOT
    from app.widgets import clear_results

    monkeypatch.setenv("NDIF_API_KEY", SECRET)
    clear_results()
    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=120)
    at.switch_page(str(ROOT / "pages" / "logit_lens.py")).run()
    assert not at.exception and len(at.get("vega_lite_chart")) >= 1
    at.sidebar.selectbox(key="model_choice").set_value("Other (hub id, local folder or .gguf)…").run()
    at.sidebar.text_input(key="model_custom").set_value(HUB_ID).run()
    at.sidebar.selectbox(key="model_run_on").set_value("ndif").run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and ("reached" in errors[0] or "network" in errors[0])
    assert SECRET not in " ".join(errors)
    assert len(at.get("vega_lite_chart")) >= 1  # the earlier result is still on the page
    assert any("Still showing" in w.value for w in at.warning)
    assert any(b.label == "Back to the default model" for b in at.button)
