"""Decode, crop and resize face images (section 4.2).

CK+ faces are cropped to the box spanned by the extreme landmarks (left,
right, top, bottom), Oulu-CASIA faces to a detector's box, and RAF-DB uses
the owners' aligned images whole. Every crop is resized to a square of
``size`` pixels and stored as a channels-first uint8 RGB array.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spndl.data.records import DataError
from spndl.opencv import cv2

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), pixels
UNREADABLE = "unreadable image"  # the reason prepare and check-data give for a file that does not decode


# The most pixels spndl decodes from one image: 100 megapixels (10,000 x 10,000) take 300 MB
# as RGB and about 1 GB while being converted, within the 4,000 MB of a pipeline job; a 1 MB
# PNG may declare 32,000 x 32,000 px (3 GB decoded). The header is read first, so such a file
# is refused before anything is decoded.
MAX_PIXELS = 100_000_000


def _check_pixels(path: Path) -> None:
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():  # Pillow warns of large images itself; the limit here is ours
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
    except Image.DecompressionBombError:  # Pillow's own limit, far above ours
        raise DataError(path, f"above the limit of {MAX_PIXELS // 10**6} megapixels per image") from None
    except (OSError, ValueError, SyntaxError):
        return  # a header Pillow does not read: OpenCV decides whether it is an image
    if w * h > MAX_PIXELS:
        raise DataError(path, f"{w} x {h} px, above the limit of {MAX_PIXELS // 10**6} megapixels per image")


def read_image(path: Path) -> np.ndarray:
    """An image file as (H, W, 3) RGB uint8; greyscale frames are repeated to 3 channels.
    A file that does not decode, or declares more than ``MAX_PIXELS``, is a DataError."""
    if not Path(path).is_file():  # a named pipe under an image's name would block the decoder
        raise DataError(path, f"{UNREADABLE}: not a regular file")
    _check_pixels(path)
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(path, UNREADABLE)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def landmark_box(points: np.ndarray) -> Box:
    """The box spanned by the extreme points: min/max of x and of y."""
    x0, y0 = np.floor(points.min(0)).astype(int)
    x1, y1 = np.ceil(points.max(0)).astype(int) + 1
    return int(x0), int(y0), int(x1), int(y1)


def crop_resize(img: np.ndarray, box: Box, size: int) -> np.ndarray:
    """Crop ``box`` (clipped to the image) and resize to (3, size, size) uint8."""
    h, w = img.shape[:2]
    x0, y0, x1, y1 = max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3])
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise DataError(f"crop box {box} lies outside the {w}x{h} image")
    face = cv2.resize(img[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(face.transpose(2, 0, 1))


class FaceDetector:
    """OpenCV's frontal-face Haar cascade; its model file ships inside opencv-python-headless."""

    MODEL = "haarcascade_frontalface_alt2.xml"

    def __init__(self, min_face_fraction: float = 0.2):
        path = Path(cv2.data.haarcascades) / self.MODEL
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise DataError(f"{path}: could not load the face detector model")
        self.min_face_fraction = min_face_fraction

    def detect(self, img: np.ndarray) -> Box | None:
        """The most confident face's box, or None when no face is found."""
        grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        m = int(min(grey.shape) * self.min_face_fraction)
        # A fine scale step with few neighbours finds more faces; of several boxes the one
        # the cascade's last stage scores highest wins (the largest is often a false alarm).
        faces, _, weights = self.cascade.detectMultiScale3(grey, scaleFactor=1.05, minNeighbors=3, minSize=(m, m),
                                                           outputRejectLevels=True)
        if len(faces) == 0:
            return None
        x, y, w, h = faces[int(np.argmax(weights))]
        return int(x), int(y), int(x + w), int(y + h)
