"""A recording's files, read and written only through :mod:`vlagent.tools.files`.

Every file a recording names (its trajectory, screenshots, other cameras' views, depth maps) is
read from inside the run folder: a relative name with no ``..``, no symbolic link on the way, a
regular file of bounded size. Every file written into a run folder or a dataset (screenshots,
a replay's divergence report and screens, an export's files, a report) is written through a
temporary file and a rename, never through a link planted at its name. The rules and their
reasons are in that module; this one adds what recordings need on top: images and arrays.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image

from vlagent.tools.files import (
    MAX_FILE_BYTES,
    Content,
    FileError,
    MissingFile,
    UnsafeFile,
    check_inside,
    read_inside,
    write_file,
    write_inside,
)

__all__ = [
    "IMAGE_ERRORS",
    "MAX_FILE_BYTES",
    "Content",
    "FileError",
    "MissingFile",
    "UnsafeFile",
    "check_inside",
    "read_image",
    "read_inside",
    "verify_image",
    "write_file",
    "write_inside",
    "write_npy",
    "write_png",
]

PNG_LEVEL = 1  # lossless still; on photo-like screens about 10x faster than the default level 6

IMAGE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)
"""What Pillow raises for a file that is not a picture it can decode."""


def read_image(root: Path, name: str) -> Image.Image:
    """The picture ``root/name``, decoded (the file is closed on return). Raises
    :class:`MissingFile` or :class:`UnsafeFile` for the file, :data:`IMAGE_ERRORS` for its
    content."""
    image = Image.open(io.BytesIO(read_inside(root, name)))
    image.load()
    return image


def verify_image(root: Path, name: str) -> None:
    """Check the structure and checksums of the picture ``root/name`` without decoding its
    pixels; raises as :func:`read_image`."""
    with Image.open(io.BytesIO(read_inside(root, name))) as opened:
        opened.verify()


def write_png(root: Path, name: str, image: Image.Image, sync: bool = False) -> Path:
    """``image`` as the PNG ``root/name`` (through a temporary file and a rename)."""
    return write_inside(
        root, name, lambda sink: image.save(sink, format="PNG", compress_level=PNG_LEVEL), sync
    )


def write_npy(root: Path, name: str, array: Any, sync: bool = False) -> Path:
    """``array`` as the float32 ``.npy`` file ``root/name``."""
    import numpy as np

    return write_inside(
        root, name, lambda sink: np.save(sink, np.asarray(array, dtype=np.float32)), sync
    )
