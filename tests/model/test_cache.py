"""On-disk cache entries are either complete or absent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubcore.cache import MANIFEST, cache_root, ensure_entry, invalidate, is_complete, write_manifest


class Builder:
    """A build function that writes a few files and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, target: Path) -> None:
        self.calls += 1
        (target / "weights.bin").write_bytes(b"\x01" * 1000)
        (target / "sub").mkdir()
        (target / "sub" / "config.json").write_text('{"a": 1}', encoding="utf-8")


def _listing(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def test_builds_once(tmp_path):
    build = Builder()
    entry = ensure_entry("model-v1", build, root=tmp_path)
    assert entry == tmp_path / "model-v1"
    assert build.calls == 1 and is_complete(entry)
    manifest = json.loads((entry / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["files"] == {"weights.bin": 1000, "sub/config.json": 8}
    again = ensure_entry("model-v1", build, root=tmp_path)
    assert again == entry and build.calls == 1
    assert _listing(tmp_path) == ["model-v1"]  # no temporary directories left


def test_truncated_file_triggers_rebuild(tmp_path):
    build = Builder()
    entry = ensure_entry("m", build, root=tmp_path)
    with open(entry / "weights.bin", "r+b") as fh:
        fh.truncate(10)
    assert not is_complete(entry)
    ensure_entry("m", build, root=tmp_path)
    assert build.calls == 2
    assert (entry / "weights.bin").stat().st_size == 1000
    assert _listing(tmp_path) == ["m"]


@pytest.mark.parametrize("damage", ["manifest", "file", "garbage-manifest", "empty-manifest"])
def test_damaged_entry_triggers_rebuild(tmp_path, damage):
    build = Builder()
    entry = ensure_entry("m", build, root=tmp_path)
    if damage == "manifest":
        (entry / MANIFEST).unlink()
    elif damage == "file":
        (entry / "sub" / "config.json").unlink()
    elif damage == "garbage-manifest":
        (entry / MANIFEST).write_text("{not json", encoding="utf-8")
    else:
        (entry / MANIFEST).write_text('{"files": {}}', encoding="utf-8")
    assert not is_complete(entry)
    ensure_entry("m", build, root=tmp_path)
    assert build.calls == 2 and is_complete(entry)
    assert _listing(tmp_path) == ["m"]


@pytest.mark.parametrize("exc", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_failed_build_leaves_nothing_behind(tmp_path, exc):
    root = tmp_path / "cache"

    def build(target: Path) -> None:
        (target / "half.bin").write_bytes(b"\0" * 100)
        raise exc

    with pytest.raises(type(exc)):
        ensure_entry("m", build, root=root)
    assert not (root / "m").exists()
    assert _listing(root) == []  # no temporary directories either
    # and a later good build works
    build_ok = Builder()
    assert is_complete(ensure_entry("m", build_ok, root=root))
    assert build_ok.calls == 1


def test_cache_root_honours_env(tmp_path, monkeypatch):
    monkeypatch.setenv("HUBCORE_CACHE_DIR", str(tmp_path / "here"))
    assert cache_root() == tmp_path / "here"
    build = Builder()
    entry = ensure_entry("via-env", build)  # no root: uses cache_root()
    assert entry == tmp_path / "here" / "via-env" and is_complete(entry)
    monkeypatch.setenv("HUBCORE_CACHE_DIR", "~/some-cache")
    assert cache_root() == Path.home() / "some-cache"
    monkeypatch.delenv("HUBCORE_CACHE_DIR")
    assert "semantic-hub-explorer" in str(cache_root())


def test_write_manifest_and_invalidate(tmp_path):
    entry = tmp_path / "e"
    entry.mkdir()
    assert not is_complete(entry)
    (entry / "a.txt").write_text("abc", encoding="utf-8")
    write_manifest(entry, extra={"source": "test"})
    data = json.loads((entry / MANIFEST).read_text(encoding="utf-8"))
    assert data == {"files": {"a.txt": 3}, "source": "test"}
    assert is_complete(entry)
    invalidate(entry)
    assert not entry.exists()
    invalidate(entry)  # idempotent


@pytest.mark.default_model
def test_default_model_cache_entry_is_complete():
    from hubcore.cache import cache_root as root
    from hubcore.models.default import CACHE_NAME, default_model_dir

    path = default_model_dir()
    assert path == root() / CACHE_NAME
    assert is_complete(path)
    assert (path / "config.json").is_file() and (path / "tokenizer.json").is_file()
