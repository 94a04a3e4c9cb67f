"""The bad-input catalogue (docs/bad_inputs.md): one test per row, through the real entry points.

Text, files and slider values go through the experiment functions and `hubcore.cli.main`
in-process (a tiny random Gemma-3 stands in for the model where a model is needed, so each
row costs milliseconds); model specs go through the real loader with no network. Every user
error must be one `error: ...` line and exit status 2 on the CLI, an `InputError`/`HubError`
from the functions, never a traceback.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pandas as pd
import pytest
import torch

import hubcore.cli as cli
from hubcore.errors import HubError, InputError, ModelLoadError, UnsupportedModelError
from hubcore.experiments.logit_lens import logit_lens
from hubcore.models import ModelSpec, load_model
from hubcore.steering import Intervention, forward_with
from hubcore.trace import capture

BOM = b"\xef\xbb\xbf"


# ------------------------------------------------------------------------------------ helpers


@pytest.fixture
def tiny(tiny_model):
    return tiny_model("gemma3_text")


@pytest.fixture
def cli_tiny(tiny, monkeypatch):
    """`hubcore.cli.main` with the model load replaced by the tiny random Gemma-3."""
    monkeypatch.setattr(cli, "_load", lambda args, kind="text": tiny)
    return cli.main


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*_a, **_k):
        raise AssertionError("hubcore tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def one_line_error(capsys, status: int) -> str:
    """Exit status 2 and exactly one `error:` line, the last one; returns its text."""
    captured = capsys.readouterr()
    err = captured.err
    assert status == 2, err[-2000:]
    assert "Traceback" not in err + captured.out
    lines = [ln.strip() for ln in re.split(r"[\r\n]+", err) if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    return errors[0]


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


# ----------------------------------------------------------------------------------- text rows


@pytest.mark.parametrize("text", ["", "   \n\t  ", "\x00\x00"])
def test_empty_or_whitespace_text(tiny, cli_tiny, capsys, tmp_path, text):
    with pytest.raises(InputError, match="empty"):
        logit_lens(tiny, text)
    status = cli_tiny(["lens", "--text", text, "--out", str(tmp_path / "x.csv")])
    assert "empty" in one_line_error(capsys, status)
    assert not (tmp_path / "x.csv").exists()


def test_100k_character_text(tiny, cli_tiny, capsys, tmp_path):
    text = "word " * 20_000
    with pytest.raises(InputError, match="100,000 characters"):
        logit_lens(tiny, text)
    with pytest.raises(InputError, match="100,000 characters"):
        capture(tiny, ["ok", text])
    status = cli_tiny(["lens", "--text", text, "--out", str(tmp_path / "x.csv")])
    assert "at most 20,000" in one_line_error(capsys, status)


def test_long_text_over_the_lens_token_limit(tiny):
    """Under the character limit but too many positions for the lens heatmap: a clear message."""
    with pytest.raises(InputError, match="positions"):
        logit_lens(tiny, "a b " * 2000)


def test_control_characters_are_read_not_rejected(tiny, cli_tiny, capsys, tmp_path):
    """Escape sequences, DEL, bidi overrides and a BOM are text: the lens runs on them."""
    text = "\x1b[31mred\x1b[0m \x7f\x01 \u202eabc \ufeffok"
    report = logit_lens(tiny, text, top_k=2)
    assert report.num_layers == tiny.num_layers and len(report.input_tokens) > 3
    out = tmp_path / "ctrl.csv"
    assert cli_tiny(["lens", "--text", text, "--top-k", "2", "--out", str(out)]) == 0
    # tokens may be a bare "\r": the CLI quotes them, so a plain CSV reader keeps rows whole
    df = pd.read_csv(out, keep_default_na=False)
    assert len(df) == (tiny.num_layers + 1) * len(report.input_tokens) * 2
    firsts = df[df["layer"] == 0].drop_duplicates("position")["input_token"].tolist()
    assert firsts == report.input_tokens and firsts[1:3] == ["\x1b", "["]


def test_invalid_utf8_text_argument(tiny, cli_tiny, capsys, tmp_path):
    """`--text $'\\xff'` reaches Python as a lone surrogate (surrogateescape)."""
    text = b"caf\xe9 \xff".decode("utf-8", "surrogateescape")
    with pytest.raises(InputError, match="not valid UTF-8"):
        logit_lens(tiny, text)
    status = cli_tiny(["lens", "--text", text, "--out", str(tmp_path / "x.csv")])
    assert "not valid UTF-8" in one_line_error(capsys, status)


# ------------------------------------------------------------------------------ file rows (CLI)

PAIR_FILES = {
    # name: (file name, bytes, phrase in the one-line error)
    "wrong_columns": ("pairs.tsv", b"hello\tHallo\nbye\n", "Line 2 of .* has 1 column"),
    "three_columns": ("pairs.tsv", b"a\tb\tc\nd\te\tf\n", "has 3 columns"),
    "unbalanced_quotes": ("pairs.csv", b'a,"b\nc,d\n' + b"x" * 10, "quote"),
    "latin1": ("pairs.tsv", "café\tKaffee\nthé\tTee\n".encode("latin-1"), "not valid UTF-8 .*Latin-1"),
    "gbk": ("pairs.tsv", "你好\thello\n".encode("gbk"), "not valid UTF-8 .*GBK"),
    "utf16": ("pairs.tsv", "a\tb\n".encode("utf-16"), "UTF-16"),
    "binary_png": ("pairs.tsv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary"),
    "xlsx_zip": ("pairs.csv", b"PK\x03\x04" + b"\x14\x00" * 40, "Excel"),
    "zero_length": ("pairs.tsv", b"", "empty"),
    "only_blank_lines": ("pairs.tsv", BOM + b"\n \r\n\t\n", "empty"),
    "unicode_whitespace_only": ("pairs.tsv", "\x1f\n\u2028\n".encode("utf-8"), "empty"),
    "only_boms": ("pairs.tsv", BOM + BOM + b"\n" + BOM, "empty"),
    "header_only": ("pairs.tsv", b"english\tgerman\n", "no rows"),
    "empty_side": ("pairs.tsv", b"a\tb\nc\t \n", "empty second column"),
}


@pytest.mark.parametrize("case", sorted(PAIR_FILES))
def test_malformed_pair_file(cli_tiny, capsys, tmp_path, case):
    name, data, pattern = PAIR_FILES[case]
    path = write(tmp_path, name, data)
    status = cli_tiny(["similarity", "--pairs", path, "--out", str(tmp_path / "x.csv")])
    assert re.search(pattern, one_line_error(capsys, status))
    assert not (tmp_path / "x.csv").exists()


def test_missing_pair_file(cli_tiny, capsys, tmp_path):
    status = cli_tiny(["similarity", "--pairs", str(tmp_path / "nope.tsv"), "--out", str(tmp_path / "x.csv")])
    assert "Could not read" in one_line_error(capsys, status)


def test_bom_crlf_quoted_csv_is_accepted(cli_tiny, capsys, tmp_path):
    """The forgiving side of the parser: BOM, CRLF, quotes with commas, a header, a duplicate."""
    data = BOM + b'source,target\r\n"Hello, friend",Hallo Freund\r\ncat,Katze\r\ncat,Katze\r\ndog,Hund\r\n'
    path = write(tmp_path, "pairs.csv", data)
    out = tmp_path / "sim.csv"
    assert cli_tiny(["similarity", "--pairs", path, "--bootstrap", "10", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "note: Skipped the header row" in err and "duplicate" in err
    df = pd.read_csv(out)
    assert set(df["metric"]) == {"raw", "centered"}


def test_text_file_rows(cli_tiny, capsys, tmp_path):
    """One-text-per-line files: Latin-1 and binary named, blank-only rejected (languages command)."""
    for data, pattern in [("é\n".encode("latin-1"), "Line 1 .* not valid UTF-8"),
                          (b"\x00\x01\x02" * 50, "binary"), (b"\n\n", "empty")]:
        path = write(tmp_path, "texts.txt", data)
        status = cli_tiny(["languages", "--texts", path, "--out", str(tmp_path / "x.csv")])
        assert re.search(pattern, one_line_error(capsys, status))


@pytest.mark.parametrize("data,pattern", [
    (b"\x7fELF\x02\x01\x01\x00" + bytes(200), "binary"),
    ("x = 'é'\n".encode("latin-1"), "not valid UTF-8"),
    (b"", "empty"),
    (b"#" * (3 * 1024 * 1024), "limited"),
])
def test_bad_code_file(cli_tiny, capsys, tmp_path, data, pattern):
    path = write(tmp_path, "prog.py", data)
    status = cli_tiny(["code", "lists", "--source", path, "--out", str(tmp_path / "x.csv")])
    assert re.search(pattern, one_line_error(capsys, status))


def test_code_file_that_is_not_python(cli_tiny, capsys, tmp_path):
    """Valid UTF-8 but not Python: skipped with a reason, then one clear error (never executed)."""
    path = write(tmp_path, "prog.py", b"This is prose, not code: [a, b, c] and so on.\nimport os; os.remove('x'\n")
    status = cli_tiny(["code", "lists", "--source", path, "--out", str(tmp_path / "x.csv")])
    assert one_line_error(capsys, status)


# ---------------------------------------------------------------------------------- model rows


def lens_with_model(capsys, tmp_path, source: str) -> str:
    """`python -m hubcore lens --model SOURCE` in-process with the real loader."""
    status = cli.main(["lens", "--text", "hello", "--model", source, "--out", str(tmp_path / "x.csv")])
    return one_line_error(capsys, status)


def test_unknown_hub_id_offline(no_network, capsys, tmp_path):
    msg = lens_with_model(capsys, tmp_path, "no-such-org/no-such-model-123")
    assert "not in the local Hugging Face cache" in msg and "--allow-download" in msg


def test_malformed_model_id(no_network, capsys, tmp_path):
    msg = lens_with_model(capsys, tmp_path, "what is this?!")
    assert "neither 'default'" in msg


def test_local_path_that_is_not_a_model(no_network, capsys, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_bytes(b"\xff\xd8\xff")
    assert "no config.json" in lens_with_model(capsys, tmp_path, str(folder))
    text_file = write(tmp_path, "notes.txt", b"hello")
    assert "not a Hugging Face model directory" in lens_with_model(capsys, tmp_path, text_file)
    assert "does not exist" in lens_with_model(capsys, tmp_path, str(tmp_path / "missing"))


def test_corrupt_config_json(no_network, capsys, tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "config.json").write_text("{not json", encoding="utf-8")
    assert "Could not read the config" in lens_with_model(capsys, tmp_path, str(folder))


def test_unsupported_architecture(no_network, capsys, tmp_path):
    from transformers import T5Config, T5ForConditionalGeneration

    cfg = T5Config(vocab_size=64, d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2)
    T5ForConditionalGeneration(cfg).save_pretrained(tmp_path / "t5")
    msg = lens_with_model(capsys, tmp_path, str(tmp_path / "t5"))
    assert "T5ForConditionalGeneration" in msg and "not a decoder language model" in msg
    with pytest.raises(UnsupportedModelError):
        load_model(ModelSpec(source=str(tmp_path / "t5")))


def _gguf(path: Path, arch: str) -> str:
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return str(path)


def test_gguf_of_an_unsupported_architecture(no_network, capsys, tmp_path):
    """A well-formed GGUF whose architecture (RWKV-6) transformers cannot load."""
    path = _gguf(tmp_path / "rwkv.gguf", "rwkv6")
    msg = lens_with_model(capsys, tmp_path, path)
    assert "rwkv6" in msg and "not supported" in msg


@pytest.mark.parametrize("data", [b"", b"GGUF", b"this is not a gguf file" * 10])
def test_corrupt_or_zero_length_gguf(no_network, capsys, tmp_path, data):
    path = write(tmp_path, "model.gguf", data)
    msg = lens_with_model(capsys, tmp_path, path)
    assert "model.gguf" in msg


def test_missing_gguf(no_network, capsys, tmp_path):
    assert "does not exist" in lens_with_model(capsys, tmp_path, str(tmp_path / "nope.gguf"))


def test_bad_dtype_or_device_spec():
    with pytest.raises(ModelLoadError, match="Unknown dtype"):
        ModelSpec(dtype="float8")
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="no CUDA GPU"):
            load_model(ModelSpec(device="cuda"))


# ------------------------------------------------------------------------------ slider extremes


def test_layer_extremes_in_interventions(tiny):
    """Layer 0 (embedding output) and layer L (last block) are valid; L+1 and -1 are not."""
    top = tiny.num_layers
    prompts = ["The capital of France is", "Hola"]
    base = forward_with(tiny, prompts)
    vec = torch.randn(tiny.hidden_size, generator=torch.Generator().manual_seed(0))
    for layer in (0, top):
        got = forward_with(tiny, prompts, [Intervention(layer=layer, vectors=vec, coefs=4.0)])
        assert torch.isfinite(got).all() and (got - base).abs().max() > 1e-3
    for layer in (-1, top + 1):
        with pytest.raises(InputError, match=f"0..{top}"):
            forward_with(tiny, prompts, [Intervention(layer=layer, vectors=vec)])


def test_coefficient_zero_and_maximum(tiny):
    """Coefficient 0 is exactly no intervention; the sliders' maxima (8 for the +1 intervention,
    16 raw / 0.25 x residual for range steering) and far beyond stay finite."""
    prompts = ["8=5+", "def f(n):\n    for i in range("]
    base = forward_with(tiny, prompts)
    vec = torch.randn(tiny.hidden_size, generator=torch.Generator().manual_seed(1))
    zero = forward_with(tiny, prompts, [Intervention(layer=1, vectors=vec, coefs=0.0)])
    assert torch.equal(zero, base)
    for coef in (8.0, 16.0, 1e4):
        got = forward_with(tiny, prompts, [Intervention(layer=1, vectors=vec, coefs=coef)])
        assert torch.isfinite(got).all()
    norm = forward_with(tiny, prompts, [Intervention(layer=1, vectors=vec, coefs=1e6, norm_preserving=True)])
    assert torch.isfinite(norm).all()


def test_cli_layer_and_strength_extremes(cli_tiny, capsys, tmp_path, tiny):
    """`arithmetic intervene` and `code range-steer` at layer 0 and L with strengths 0 and max."""
    top = tiny.num_layers
    out = tmp_path / "gen.csv"
    assert cli_tiny(["arithmetic", "intervene", "--n", "3", "--layers", "0", str(top),
                     "--strengths", "0", "8", "--max-b", "9", "--out", str(out)]) == 0
    gen = pd.read_csv(out)
    assert set(gen["layer"]) == {0, top} and set(gen["strength"]) == {0.0, 8.0}
    assert (tmp_path / "gen_rates.csv").exists()
    capsys.readouterr()
    status = cli_tiny(["arithmetic", "intervene", "--n", "3", "--layers", str(top + 1),
                       "--out", str(out)])
    assert f"0..{top}" in one_line_error(capsys, status)

    prog = write(tmp_path, "r.py", b"for i in range(n):\n    print(i)\n")
    for layer, scale, strengths in [("0", "raw", ["0", "16"]), (str(top), "residual", ["0", "0.25"])]:
        out = tmp_path / f"range{layer}.csv"
        assert cli_tiny(["code", "range-steer", "--source", prog, "--layer", layer, "--scale", scale,
                         "--strengths", *strengths, "--out", str(out)]) == 0
        assert set(pd.read_csv(out)["strength"]) == {float(s) for s in strengths}
    capsys.readouterr()
    status = cli_tiny(["code", "range-steer", "--source", prog, "--layer", "-1", "--out", str(out)])
    assert "Layers must lie" in one_line_error(capsys, status)


def test_bad_numbers_on_the_command_line(cli_tiny, capsys, tmp_path):
    out = str(tmp_path / "x.csv")
    for args, phrase in [(["lens", "--text", "hi", "--top-k", "0", "--out", out], "top-k"),
                         (["languages", "--texts", write(tmp_path, "t.txt", b"hola\n"),
                           "--languages", "xx,??", "--out", out], "word-frequency list")]:
        assert phrase in one_line_error(capsys, cli_tiny(args)).lower()


# ---------------------------------------------------------------------------- out of memory


def _oom_when_batched(monkeypatch, model, above: int = 1, message: str = "CUDA out of memory. Tried to allocate 20.00 GiB"):
    """Make the first block raise an allocation failure for batches larger than `above` rows."""
    block = model.nn.layers[0]._module
    real = block.forward
    seen: list[int] = []

    def forward(*args, **kwargs):
        h = args[0] if args else kwargs["hidden_states"]
        seen.append(h.shape[0])
        if h.shape[0] > above:
            if "CUDA" in message:
                raise torch.OutOfMemoryError(message)
            raise RuntimeError(message)
        return real(*args, **kwargs)

    monkeypatch.setattr(block, "forward", forward)
    return seen


@pytest.mark.parametrize("message", [
    "CUDA out of memory. Tried to allocate 20.00 GiB",
    "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried to allocate 85899345920 bytes.",
])
def test_out_of_memory_batch_is_halved_and_retried(tiny, monkeypatch, message):
    texts = ["The capital of France is", "Hola", "def add(a, b):", "今天是开心的一", "one two"]
    want = capture(tiny, texts, positions="last").stacked()
    seen = _oom_when_batched(monkeypatch, tiny, above=2, message=message)
    got = capture(tiny, texts, positions="last").stacked()
    assert torch.allclose(got, want, atol=1e-5)
    assert seen[0] == len(texts) and max(s for s in seen if s <= 2) <= 2


def test_out_of_memory_for_one_item_is_a_clear_error(tiny, cli_tiny, capsys, monkeypatch, tmp_path):
    _oom_when_batched(monkeypatch, tiny, above=0)
    with pytest.raises(HubError, match="Out of memory even for a capture batch of one item"):
        capture(tiny, ["a", "b"])
    status = cli_tiny(["lens", "--text", "hello", "--out", str(tmp_path / "x.csv")])
    assert "Out of memory" in one_line_error(capsys, status)


def test_other_runtime_errors_are_not_mistaken_for_oom(tiny, monkeypatch):
    _oom_when_batched(monkeypatch, tiny, above=0, message="mat1 and mat2 shapes cannot be multiplied")
    with pytest.raises(RuntimeError, match="shapes"):
        capture(tiny, ["a"])


# ----------------------------------------------------------------------------- the app (AppTest)


@pytest.mark.default_model
def test_app_layer_slider_extremes_and_bad_model_then_good(default_model):
    """Lens page: the layer range at (0, 0) and (L, L) redraws; a bad model spec in one session
    shows one sentence and a fresh session on the default model still works."""
    from streamlit.testing.v1 import AppTest

    from app.registry import ROOT
    from app.widgets import clear_results

    clear_results()
    main, lens = str(ROOT / "app" / "main.py"), str(ROOT / "pages" / "logit_lens.py")
    top = default_model.num_layers
    at = AppTest.from_file(main, default_timeout=60).run()
    at.switch_page(lens).run(timeout=180)
    for lo_hi in ((0, 0), (top, top)):
        at.slider(key="lens_layers").set_value(lo_hi).run(timeout=60)
        assert not at.exception and not at.error
        assert len(at.get("vega_lite_chart")) == 2

    bad = AppTest.from_file(main, default_timeout=60).run()
    bad.switch_page(lens)
    bad.session_state["model_choice"] = "Other (hub id, local folder or .gguf)…"
    bad.session_state["model_custom"] = "/definitely/not/a/model"
    bad.run(timeout=60)
    assert not bad.exception and any("does not exist" in e.value for e in bad.error)

    at.text_area[0].set_value("Hoy es un buen")
    at.button[0].click().run(timeout=120)
    assert not at.exception and not at.error
    assert any("'Hoy'" in c.value for c in at.caption)
