"""Sounds for the audio experiments: loading any clip to 16 kHz mono, and the built-in corpora.

- `load_audio(bytes | path)` decodes WAV/FLAC/OGG (and whatever else libsndfile reads) with
  `soundfile`, mixes to mono, resamples to Whisper's 16 kHz with `soxr`, and refuses with one
  sentence what Whisper cannot use: unreadable or empty files, silence, and clips longer than
  Whisper's 30-second window (the encoder sees exactly 30 s; longer audio would be cut).
- The Asterisk telephony prompts (Debian `asterisk-core-sounds-{en,es,fr}-wav`, a woman reading
  the same prompt ids in three languages) with their transcripts (`hubcore.data.parallel`): a
  small parallel *spoken* corpus.
- The freedesktop sound theme (event sounds; a few are spoken channel names).
"""

from __future__ import annotations

import functools
import io
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from ..data import parallel
from ..errors import InputError
from ..models.speech import SAMPLE_RATE  # Whisper's rate (re-exported for the audio helpers)

MAX_SECONDS = 30.0  # Whisper's input window
MAX_BYTES = 50 * 1024 * 1024
SILENCE_PEAK = 1e-3  # full scale = 1.0; below this everywhere the clip is treated as silent
ASTERISK_VOICES = {"en": "en_US_f_Allison", "es": "es_MX_f_Allison", "fr": "fr_CA_f_June"}
FREEDESKTOP_DIR = Path("/usr/share/sounds/freedesktop/stereo")

AudioSource = Union[bytes, bytearray, str, Path]


def _describe(source: AudioSource) -> str:
    return f"'{Path(source).name}'" if isinstance(source, (str, Path)) else "The uploaded audio"


def _read_bytes(source: AudioSource) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source)
    path = Path(source).expanduser()
    if not path.is_file():
        raise InputError(f"Audio file '{source}' does not exist.")
    if path.stat().st_size > MAX_BYTES:
        raise InputError(
            f"{_describe(source)} is {path.stat().st_size / 2**20:.0f} MB; audio files up to "
            f"{MAX_BYTES // 2**20} MB (and {MAX_SECONDS:.0f} s, Whisper's window) are accepted."
        )
    return path.read_bytes()


def load_audio(source: AudioSource, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """16 kHz mono float32 samples of a WAV/FLAC/OGG clip given as bytes or a path.

    Raises `InputError` (one sentence) for empty, corrupt, unsupported, silent or too-long audio.
    """
    import soundfile as sf

    what = _describe(source)
    data = _read_bytes(source)
    if not data:
        raise InputError(f"{what} is empty (0 bytes).")
    if len(data) > MAX_BYTES:
        raise InputError(f"{what} is larger than {MAX_BYTES // 2**20} MB; trim it to under {max_seconds:.0f} s.")
    try:
        with sf.SoundFile(io.BytesIO(data)) as fh:
            seconds = fh.frames / fh.samplerate if fh.samplerate else 0.0
            if seconds > max_seconds:
                raise InputError(
                    f"{what} lasts {seconds:.1f} s; Whisper hears at most {max_seconds:.0f} s at "
                    "a time, so trim it to a shorter clip."
                )
            samples = fh.read(dtype="float32", always_2d=True)
            rate = fh.samplerate
    except InputError:
        raise
    except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError / TypeError
        detail = re.sub(r"^Error opening .*?: ", "", (str(exc).strip().splitlines() or [""])[0])
        detail = detail.strip().rstrip(".") or type(exc).__name__
        raise InputError(
            f"{what} could not be decoded as audio (WAV, FLAC or OGG are supported): {detail}."
        ) from exc
    if samples.size == 0:
        raise InputError(f"{what} contains no audio samples (zero length).")
    mono = samples.mean(axis=1)
    if not np.isfinite(mono).all():
        raise InputError(f"{what} contains invalid (NaN or infinite) samples.")
    if float(np.abs(mono).max()) < SILENCE_PEAK:
        raise InputError(f"{what} is silent: there is nothing for the model to hear.")
    if rate != SAMPLE_RATE:
        import soxr

        mono = soxr.resample(mono, rate, SAMPLE_RATE)
    return np.ascontiguousarray(mono, dtype=np.float32)


# ----------------------------------------------------------------------------- Asterisk prompts


def sounds_dir() -> Path:
    return Path(os.environ.get("HUBCORE_ASTERISK_SOUNDS_DIR", "/usr/share/asterisk/sounds"))


@dataclass(frozen=True)
class Clip:
    """One recording: where it is, what it says, in which language."""

    id: str
    lang: str
    path: str
    text: str

    def audio(self) -> np.ndarray:
        return load_audio(self.path)


def _voice_dir(lang: str) -> Path:
    root = sounds_dir()
    for name in (ASTERISK_VOICES.get(lang, ""), lang):
        if name and (root / name).is_dir():
            return root / name
    raise InputError(
        f"The {parallel.language_name(lang)} Asterisk recordings are missing: install the Debian "
        f"package asterisk-core-sounds-{lang}-wav (or run `bash scripts/install-data.sh`)."
    )


@functools.lru_cache(maxsize=8)
def _clips(lang: str, root: str) -> tuple[Clip, ...]:
    folder = _voice_dir(lang)
    prompts = parallel.load_asterisk(lang)
    out = []
    for key, text in sorted(prompts.items()):
        if key.startswith(parallel.ASTERISK_SKIP_PREFIXES):
            continue
        text = parallel.clean_prompt(text)
        wav = folder / f"{key}.wav"
        if len(text) >= 2 and wav.is_file():
            out.append(Clip(id=key, lang=lang, path=str(wav), text=text))
    return tuple(out)


def asterisk_clips(lang: str) -> list[Clip]:
    """Every transcribed Asterisk recording in `lang` (en/es/fr), sorted by prompt id."""
    if lang not in parallel.ASTERISK_LANGS:
        raise InputError(f"The Asterisk recordings exist in en, es and fr only, not {lang!r}.")
    return list(_clips(lang, str(sounds_dir())))


def parallel_clips(
    langs: Sequence[str] = ("en", "es", "fr"),
    n: Optional[int] = None,
    min_words: int = 2,
    max_words: int = 12,
    seed: int = 0,
    exclude: Sequence[str] = (),
) -> list[dict[str, Clip]]:
    """Prompt ids recorded in every language of `langs`: one {lang: Clip} per id.

    Prompts of `min_words..max_words` words in every language (short enough to stay far below
    30 s, long enough to carry meaning); `n` picks a seeded random subset, kept in id order.
    """
    tables = [{c.id: c for c in asterisk_clips(lang)} for lang in langs]
    skip = set(exclude)
    ids = sorted(set.intersection(*(set(t) for t in tables)) - skip)
    ids = [i for i in ids
           if all(min_words <= len(t[i].text.split()) <= max_words for t in tables)
           and not any(parallel.is_spelled_out(t[i].text) for t in tables)]
    if n is not None and n < len(ids):
        chosen = set(random.Random(seed).sample(ids, n))
        ids = [i for i in ids if i in chosen]
    return [{lang: t[i] for lang, t in zip(langs, tables)} for i in ids]


def freedesktop_sounds() -> dict[str, str]:
    """Event-sound name -> path for the freedesktop sound theme (empty when not installed)."""
    if not FREEDESKTOP_DIR.is_dir():
        return {}
    return {p.stem: str(p) for p in sorted(FREEDESKTOP_DIR.glob("*.oga"))}
