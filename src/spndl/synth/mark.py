"""The synthetic mark every image of ``spndl synth`` carries inside the file itself.

``SYNTHETIC.txt`` marks a whole tree, but a copy of one subject's folder leaves it behind,
and data without it would be prepared, tabulated and published as real. So each image also
says it: a PNG text chunk (``tEXt``, right after the header) or a JPEG comment segment
(``COM``, right after the start marker). Both sit in the file's first bytes, pixels untouched
(a decoder skips them), and survive any copy, archive or re-folder of the files. ``prepare``
and ``check-data`` read the first bytes of the images they use (``carries_mark``).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

TEXT = b"spndl synth: SYNTHETIC data, not a photograph of a person"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_HEAD = 256  # bytes read to find the mark: the PNG header chunk is 25 bytes, the JPEG start 2


def mark(encoded: bytes) -> bytes:
    """An encoded PNG or JPEG with the mark added."""
    if encoded.startswith(_PNG_SIGNATURE):
        ihdr_end = 8 + 8 + struct.unpack(">I", encoded[8:12])[0] + 4  # signature, IHDR's length+type, data, CRC
        body = b"Comment\x00" + TEXT
        chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
        return encoded[:ihdr_end] + chunk + encoded[ihdr_end:]
    if encoded.startswith(b"\xff\xd8"):
        return encoded[:2] + b"\xff\xfe" + struct.pack(">H", len(TEXT) + 2) + TEXT + encoded[2:]
    raise ValueError("not a PNG or JPEG stream")


def carries_mark(path: str | Path) -> bool:
    """Whether the image file at ``path`` carries the synthetic mark (False where unreadable).
    Only a regular file is opened: a named pipe under an image's name would block the read."""
    if not Path(path).is_file():
        return False
    try:
        with open(path, "rb") as f:
            return TEXT in f.read(_HEAD)
    except OSError:
        return False
