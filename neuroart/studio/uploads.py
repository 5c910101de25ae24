"""Images sent to the studio: a data URL -> the bytes as sent and the 28x28 digit the network reads.

Only what the page needs gets decoded: one still PNG or JPEG. The bytes are opened lazily with
only those decoders (`IMAGE_FORMATS`), so no other Pillow decoder ever sees a request (ICO, ICNS,
TIFF, ...: an ICO whose directory claims 16x16 and holds a 13000x13000 PNG is refused unread);
animations and multi-picture files (APNG, MPO) are refused; and the picture's real size is
checked against `MAX_PIXELS` before a single pixel is decoded. Then `neuroart.data` makes the
digit MNIST-style, exactly as ``neuroart classify`` does.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import threading
from dataclasses import dataclass

import numpy as np

from .._util import NeuroartError
from .options import type_name
from .settings import BIG_PIXELS, HEAVY_SLOTS, IMAGE_FORMATS, MAX_PIXELS

_DATA_URL = re.compile(r"data:image/[a-z0-9.+-]{1,40};base64,", re.IGNORECASE)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Pictures over `BIG_PIXELS` are decoded a few at a time, whatever the size of their file (a PNG
#: of 4096x4096 black pixels is 17 kB and takes ~140 MB to make MNIST-style).
_BIG_DECODES = threading.BoundedSemaphore(HEAVY_SLOTS)


@dataclass
class Upload:
    """An image as sent (`raw` bytes, kept for Save) and as the network sees it (`digit`, 28x28)."""

    raw: bytes
    digit: np.ndarray


def check_picture(raw: bytes, name: str = "image", *, max_pixels: int = MAX_PIXELS) -> int:
    """Refuse, without decoding pixels, anything but one still picture of at most `max_pixels`
    in `IMAGE_FORMATS`; returns its number of pixels."""
    from PIL import Image, UnidentifiedImageError

    if not raw:
        raise NeuroartError(f"{name}: empty file")
    try:
        with Image.open(io.BytesIO(raw), formats=["PNG", "JPEG"]) as img:  # header only: nothing decoded yet
            fmt = "JPEG" if img.format == "MPO" else img.format
            frames = getattr(img, "n_frames", 1)
            w, h = img.size
    except UnidentifiedImageError:
        raise NeuroartError(f"{name}: not an image the studio reads (send one {' or '.join(IMAGE_FORMATS)} "
                            "picture)") from None
    except Image.DecompressionBombError:
        raise NeuroartError(f"{name}: image too large (refused as a decompression bomb)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise NeuroartError(f"{name}: broken or truncated image ({str(e)[:80]})") from None
    if fmt not in IMAGE_FORMATS:
        raise NeuroartError(f"{name}: {fmt} images are not read here (send {' or '.join(IMAGE_FORMATS)})")
    if frames != 1:
        raise NeuroartError(f"{name}: an animation or a file of {frames} pictures; send one still picture")
    if w * h > max_pixels:
        raise NeuroartError(f"{name}: image too large ({w}x{h} pixels; the limit is {max_pixels:,})")
    return w * h


def read_upload(value, name: str = "image") -> Upload:
    """A data URL (``data:image/png;base64,...``) as an `Upload`; a `NeuroartError` names `name`."""
    from ..data import digit_from_bytes

    if not isinstance(value, str):
        raise NeuroartError(f"{name} must be a data URL string (data:image/png;base64,...), got {type_name(value)}")
    m = _DATA_URL.match(value)
    if not m:
        raise NeuroartError(f"{name} must be a data URL like data:image/png;base64,... (got {value[:30]!r})")
    try:
        raw = base64.b64decode(value[m.end():], validate=True)
    except (binascii.Error, ValueError):
        raise NeuroartError(f"{name}: malformed base64") from None
    if check_picture(raw, name) <= BIG_PIXELS:
        return Upload(raw, digit_from_bytes(raw, name=name, max_pixels=MAX_PIXELS))
    with _BIG_DECODES:
        return Upload(raw, digit_from_bytes(raw, name=name, max_pixels=MAX_PIXELS))


def image_option(name: str = "image"):
    """An option parser: the named data URL as an `Upload`."""
    return lambda value: read_upload(value, name)


def is_png(upload: Upload) -> bool:
    return upload.raw.startswith(PNG_SIGNATURE)
