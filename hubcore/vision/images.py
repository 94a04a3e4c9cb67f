"""Images for the vision experiments: generated colours, two-colour splits, emoji, and uploads.

The paper's colour images (red / green / blue / black, Fig. 11 and 12c) are generated; emoji
come from Debian's `fonts-noto-color-emoji` (a bitmap font: it only renders at 109 px, so each
emoji is drawn at that size and resized) with multilingual labels from npm `emojibase-data`
(loaded by `hubcore.data.parallel.emoji_labels`). Uploads are checked for size and format, and a
corrupt, empty or oversized file gets one clear sentence instead of a traceback.
"""

from __future__ import annotations

import io
import os
import random
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional, Sequence

from ..errors import InputError

IMAGE_SIZE = 224
# sRGB values of the colour words the experiments read back through the lens
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 20, 20),
    "green": (20, 160, 40),
    "blue": (20, 40, 220),
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "yellow": (250, 220, 20),
    "orange": (250, 130, 10),
    "purple": (130, 30, 160),
    "pink": (250, 150, 190),
    "brown": (120, 70, 20),
    "gray": (128, 128, 128),
}
PAPER_COLOURS = ("red", "green", "blue", "black")
EMOJI_FONT = Path(os.environ.get("HUBCORE_EMOJI_FONT",
                                 "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"))
EMOJI_FONT_SIZE = 109  # the only size the bitmap font has
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_PIXELS = 40_000_000
UPLOAD_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP")


def _rgb(colour: str) -> tuple[int, int, int]:
    name = colour.strip().lower()
    if name not in COLOURS:
        raise InputError(f"Unknown colour '{colour}': choose from {', '.join(COLOURS)}.")
    return COLOURS[name]


def solid(colour: str, size: int = IMAGE_SIZE) -> Any:
    """A square RGB image of one colour."""
    from PIL import Image

    return Image.new("RGB", (size, size), _rgb(colour))


def split(left: str, right: str, size: int = IMAGE_SIZE) -> Any:
    """A square image: `left` colour on the left half, `right` on the right half."""
    from PIL import Image

    img = Image.new("RGB", (size, size), _rgb(right))
    img.paste(Image.new("RGB", (size // 2, size), _rgb(left)), (0, 0))
    return img


def emoji_char(hexcode: str) -> str:
    """'1F436' -> '🐶'; '1F1EB-1F1F7' -> the two code points."""
    try:
        return "".join(chr(int(part, 16)) for part in hexcode.split("-"))
    except ValueError as exc:
        raise InputError(f"'{hexcode}' is not an emoji hexcode.") from exc


@lru_cache(maxsize=1)
def _emoji_font() -> Any:
    from PIL import ImageFont

    if not EMOJI_FONT.is_file():
        raise InputError(f"The emoji font is not installed ({EMOJI_FONT}): install the Debian "
                         "package fonts-noto-color-emoji (scripts/install-data.sh does).")
    return ImageFont.truetype(str(EMOJI_FONT), EMOJI_FONT_SIZE)


def emoji_image(hexcode: str, size: int = IMAGE_SIZE) -> Any:
    """The emoji drawn in colour, centred on white, resized to `size` x `size`."""
    from PIL import Image, ImageDraw

    font = _emoji_font()
    canvas = Image.new("RGB", (160, 160), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    text = emoji_char(hexcode)
    box = draw.textbbox((0, 0), text, font=font, embedded_color=True)
    x = (160 - (box[2] - box[0])) // 2 - box[0]
    y = (160 - (box[3] - box[1])) // 2 - box[1]
    draw.text((x, y), text, font=font, embedded_color=True)
    return canvas.resize((size, size), Image.Resampling.LANCZOS)


_WORD = re.compile(r"^[a-z]+$")


def emoji_items(n: int, langs: Sequence[str] = ("en",), seed: int = 0) -> list[dict[str, str]]:
    """`n` seeded emoji whose English label is one plain word (concrete nouns: dog, apple, ...),
    each as {"hexcode", "en", <other langs>}."""
    from ..data.parallel import emoji_labels

    langs = list(dict.fromkeys(["en", *langs]))
    table = emoji_labels(langs)
    table = table[table["en"].str.fullmatch(_WORD.pattern)]
    if len(table) < 2:
        raise InputError("Fewer than two one-word emoji labels are available.")
    rows = table.to_dict("records")
    if n and n < len(rows):
        rows = random.Random(seed).sample(rows, n)
    return rows


def load_image(data: bytes, name: str = "upload") -> Any:
    """Decode an uploaded image to RGB, refusing empty, oversized, corrupt or unknown files."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise InputError(f"'{name}' is empty (0 bytes).")
    if len(data) > MAX_UPLOAD_BYTES:
        raise InputError(f"'{name}' is {len(data) / 2**20:.1f} MB; the limit is "
                         f"{MAX_UPLOAD_BYTES // 2**20} MB.")
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            if fmt not in UPLOAD_FORMATS:
                raise InputError(f"'{name}' is a {fmt} image; use {', '.join(UPLOAD_FORMATS)}.")
            w, h = img.size
            if w * h > MAX_UPLOAD_PIXELS:
                raise InputError(f"'{name}' is {w}x{h} pixels; the limit is "
                                 f"{MAX_UPLOAD_PIXELS // 1_000_000} megapixels.")
            img.load()
            return img.convert("RGB")
    except InputError:
        raise
    except UnidentifiedImageError as exc:
        raise InputError(f"'{name}' is not an image this app can read "
                         f"({', '.join(UPLOAD_FORMATS)}).") from exc
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"'{name}' is corrupt or truncated and cannot be decoded.") from exc


def thumbnail_png(image: Any, size: Optional[int] = None) -> bytes:
    """PNG bytes of an image (optionally resized), for charts and downloads."""
    buf = io.BytesIO()
    img = image if size is None else image.resize((size, size))
    img.save(buf, format="PNG")
    return buf.getvalue()
