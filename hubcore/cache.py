"""On-disk cache directories that are either complete or absent.

Converting the embedded models takes about a minute, so the results are cached. A crash or a full
disk halfway through must never leave a directory that later loads as a broken model: each entry is
built in a temporary sibling directory, a manifest with every file's size is written last, and the
directory is renamed into place. An entry whose manifest is missing or disagrees with the files is
treated as absent and rebuilt.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

MANIFEST = "hubcore-manifest.json"


def cache_root() -> Path:
    """The cache root: `HUBCORE_CACHE_DIR`, else the platform's user cache directory."""
    env = os.environ.get("HUBCORE_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("semantic-hub-explorer"))


def is_complete(entry: Path) -> bool:
    """True when `entry` has a manifest and every listed file exists with the recorded size."""
    manifest = entry / MANIFEST
    try:
        listed = json.loads(manifest.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if not listed:
        return False
    for name, size in listed.items():
        path = entry / name
        try:
            if path.stat().st_size != size:
                return False
        except OSError:
            return False
    return True


def write_manifest(entry: Path, extra: dict | None = None) -> None:
    """Record the size of every file under `entry` (the last step of a build)."""
    files = {
        str(p.relative_to(entry)): p.stat().st_size
        for p in sorted(entry.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    payload = {"files": files, **(extra or {})}
    (entry / MANIFEST).write_text(json.dumps(payload, indent=1), encoding="utf-8")


def ensure_entry(name: str, build: Callable[[Path], None], root: Path | None = None) -> Path:
    """Return the complete cache entry `name`, building it with `build(tmp_dir)` if needed.

    `build` writes the files into the temporary directory it is given; on success the manifest is
    written and the directory is atomically renamed to its final place. A stale or partial entry
    is removed first.
    """
    root = root or cache_root()
    entry = root / name
    if is_complete(entry):
        return entry
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    try:
        build(tmp)
        write_manifest(tmp)
        if entry.exists():
            shutil.rmtree(entry, ignore_errors=True)
        os.replace(tmp, entry)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return entry


def invalidate(entry: Path) -> None:
    """Remove an entry that turned out to be unusable, so the next call rebuilds it."""
    shutil.rmtree(entry, ignore_errors=True)
