"""Draw a face image from its 68 landmarks (face units) and the subject's appearance.

The drawing is deliberately plain (filled polygons, anti-aliased strokes) but
has the parts a face detector and a CNN key on: a lit face oval under darker
hair, dark brows, eyes with iris and sclera, nostrils, lips, and wrinkles.
Wrinkles come both from the identity (permanent lines) and from AUs (the
furrows of AU1/2, AU4, AU9 and the nasolabial fold of AU12), so a line alone
does not tell an expression: the paper's 'wrinkles mistaken for facial
movements' (section 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spndl.opencv import cv2
from spndl.synth.face import BROW_L, BROW_R, EYE_L, EYE_R, JAW, LIP_INNER, LIP_OUTER, Identity

_SHIFT = 4  # cv2 fixed-point bits: sub-pixel landmark positions
_ONE = 1 << _SHIFT


@dataclass
class Pose:
    """Where the face lies in the frame: centre (px), scale (px per face unit), roll (rad)."""

    cx: float
    cy: float
    scale: float
    roll: float = 0.0

    def apply(self, p: np.ndarray) -> np.ndarray:
        c, s = np.cos(self.roll), np.sin(self.roll)
        q = p @ np.array([[c, s], [-s, c]])
        return q * self.scale + [self.cx, self.cy]


def _pts(p: np.ndarray) -> np.ndarray:
    return np.round(p * _ONE).astype(np.int32).reshape(-1, 1, 2)


def _c(color) -> tuple[float, ...]:
    return tuple(float(v) for v in np.broadcast_to(np.asarray(color, np.float64), (3,)))


def _poly(img, p, color):
    color = _c(color) if img.ndim == 3 else float(color)
    cv2.fillPoly(img, [_pts(p)], color, cv2.LINE_AA, _SHIFT)


def _line(img, p, color, thickness):
    cv2.polylines(img, [_pts(p)], False, _c(color), max(1, int(round(thickness))), cv2.LINE_AA, _SHIFT)


def _ellipse(img, centre, axes, angle, color):
    c = tuple(int(round(v * _ONE)) for v in centre)
    a = tuple(max(1, int(round(v * _ONE))) for v in axes)
    color = _c(color) if img.ndim == 3 else float(color)
    cv2.ellipse(img, c, a, float(np.degrees(angle)), 0, 360, color, -1, cv2.LINE_AA, _SHIFT)


def _box(points: np.ndarray, margin: float, height: int, width: int) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): the pixels within ``margin`` of the points' bounding box, clipped to
    the frame. Whole pixels: a drawing shifted by them rasterises exactly as in the frame."""
    p = np.asarray(points, np.float64).reshape(-1, 2)
    x0, y0 = np.floor(p.min(0) - margin).astype(int)
    x1, y1 = np.ceil(p.max(0) + margin).astype(int) + 1
    return max(y0, 0), min(y1, height), max(x0, 0), min(x1, width)


def _blur_radius(sigma: float) -> int:
    """Pixels that cv2.GaussianBlur reaches on float images (a kernel of 8 sigma + 1), and one more."""
    return int(np.ceil(4 * sigma)) + 1


def _blurred_ellipse(centre, axes, angle, sigma, height, width) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A filled ellipse of 1s on 0s, Gaussian-blurred, and its box in the frame: the pixels
    of a full-frame pass within the box, all zero outside it. A box inside the frame is
    blurred with zeros beyond its edges, as the frame's zeros are; one that meets the frame's
    edge keeps OpenCV's reflection there and a margin that the reflection cannot reach past."""
    reach = max(axes) + _blur_radius(sigma) + 1
    box = _box(centre, reach, height, width)
    inside = box[0] > 0 and box[2] > 0 and box[1] < height and box[3] < width
    if not inside:
        box = _box(centre, reach + _blur_radius(sigma), height, width)
    y0, y1, x0, x1 = box
    shade = np.zeros((y1 - y0, x1 - x0), np.float32)
    _ellipse(shade, np.asarray(centre) - [x0, y0], axes, angle, 1.0)
    border = cv2.BORDER_CONSTANT if inside else cv2.BORDER_DEFAULT
    return cv2.GaussianBlur(shade, (0, 0), sigma, borderType=border), box


def render(shape: np.ndarray, idt: Identity, aus: dict[str, float], pose: Pose,
           height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """An RGB float image in [0, 1] of shape (height, width, 3).

    ``shape`` is (68, 2) in face units; ``pose`` maps it to pixels.
    """
    img = np.empty((height, width, 3), np.float32)
    yy = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    img[:] = idt.background * (0.85 + 0.3 * yy)
    P = pose.apply(shape)
    s = pose.scale
    roll = pose.roll
    centre = pose.apply(np.array([[0.0, 0.0]]))[0]
    up = np.array([np.sin(roll), -np.cos(roll)])  # image direction of the face's 'up'
    skin = np.array(idt.skin, np.float32)

    # Neck, hair mass, then the face oval (jaw below, forehead arc above).
    chin = P[8]
    neck = np.array([chin + [-0.45 * s, -0.3 * s], chin + [0.45 * s, -0.3 * s],
                     chin + [0.55 * s, 1.6 * s], chin + [-0.55 * s, 1.6 * s]])
    _poly(img, neck, skin * 0.8)
    head_c = centre + up * 0.35 * s
    _ellipse(img, head_c, (1.18 * s, 1.25 * s), roll, tuple(idt.hair))
    t = np.linspace(0, np.pi, 15)
    forehead = pose.apply(np.c_[np.cos(t) * shape[16, 0] * 1.0, shape[16, 1] - 0.95 * np.sin(t)])
    _poly(img, np.r_[P[JAW], forehead], skin)
    # Soft side shading gives the oval relief, which cascade detectors respond to. Blurred
    # in the box that the blur reaches; elsewhere the factor is that of a zero shade.
    shade, (y0, y1, x0, x1) = _blurred_ellipse(centre + up * -0.15 * s, (0.75 * s, 1.05 * s), roll, 0.25 * s,
                                               height, width)
    inside = img[y0:y1, x0:x1] * (0.82 + 0.18 * shade)[..., None]
    img *= np.float32(0.82)
    img[y0:y1, x0:x1] = inside

    dark = lambda f: skin * f  # noqa: E731
    # Wrinkles: identity lines plus AU-driven furrows.
    fl = idt.forehead_lines + 0.8 * (aus.get("AU1", 0) + aus.get("AU2", 0)) / 2
    for k in range(3):
        if fl > 0.15 + 0.25 * k:
            y = -0.85 - 0.1 * k
            _line(img, pose.apply(np.c_[np.linspace(-0.45, 0.45, 9), y + 0.02 * np.cos(np.linspace(-2, 2, 9))]),
                  dark(0.8 - 0.1 * min(fl, 1)), 0.02 * s)
    gl = idt.glabella + aus.get("AU4", 0)
    if gl > 0.3:
        for x in (-0.06, 0.06):
            _line(img, pose.apply(np.array([[x, -0.55], [x * 0.8, -0.38]])), dark(0.85 - 0.15 * min(gl, 1)), 0.02 * s)
    nl = idt.nasolabial + 0.9 * aus.get("AU12", 0) + 0.6 * aus.get("AU10", 0) + 0.5 * aus.get("AU9", 0)
    if nl > 0.25:
        for side in (31, 35):
            corner = P[48] if side == 31 else P[54]
            a = P[side] + (P[side] - P[33]) * 0.8
            _line(img, np.array([a, (a + corner) / 2 + (corner - P[33]) * 0.15, corner + (corner - P[33]) * 0.1]),
                  dark(0.85 - 0.12 * min(nl, 1.5)), 0.022 * s)
    if aus.get("AU9", 0) > 0.3:
        for dy in (0.0, 0.05):
            _line(img, pose.apply(np.array([[-0.08, -0.18 + dy], [0.08, -0.18 + dy]])), dark(0.75), 0.018 * s)

    # Eyes: sclera, iris clipped to the lids, lid line, and the socket shadow above.
    for eye in (EYE_R, EYE_L):
        e = P[eye]
        c = e.mean(0)
        _ellipse(img, c + up * 0.08 * s, (0.2 * s, 0.09 * s), roll, dark(0.88))
        # Sclera and iris blended in through the lid polygon's mask, within the eye's box only
        # (outside it the mask is zero and the blend leaves the pixels as they are).
        y0, y1, x0, x1 = _box(e, 2, height, width)
        origin = np.array([x0, y0])
        mask = np.zeros((y1 - y0, x1 - x0), np.float32)
        _poly(mask, e - origin, 1.0)
        eye_img = np.empty((y1 - y0, x1 - x0, 3), np.float32)
        eye_img[:] = (0.92, 0.92, 0.9)
        r = 0.065 * s
        cv2.circle(eye_img, tuple(int(round(v * _ONE)) for v in c - origin), int(r * _ONE), (0.15, 0.1, 0.08), -1,
                   cv2.LINE_AA, _SHIFT)
        box = img[y0:y1, x0:x1]
        box[:] = box * (1 - mask[..., None]) + eye_img * mask[..., None]
        cv2.polylines(img, [_pts(np.r_[e, e[:1]])], False, (0.1, 0.08, 0.07), max(1, int(0.015 * s)),
                      cv2.LINE_AA, _SHIFT)
    for brow in (BROW_R, BROW_L):
        _line(img, P[brow], (idt.brow_dark,) * 3, 0.07 * s)

    # Nose: side shading and nostrils.
    _line(img, P[[27, 28, 29, 30]] + [0.05 * s, 0], dark(0.9), 0.03 * s)
    for k in (32, 34):
        _ellipse(img, P[k], (0.045 * s, 0.025 * s), roll, dark(0.45))

    # Mouth: lips, then the opening (dark) with teeth when wide open.
    _poly(img, P[LIP_OUTER], tuple(idt.lip_color))
    inner = P[LIP_INNER]
    gap = np.linalg.norm(inner[[5, 6, 7]] - inner[[3, 2, 1]], axis=1).mean() / s
    if gap > 0.02:
        _poly(img, inner, (0.12, 0.05, 0.05))
        if gap > 0.08:
            teeth = np.r_[inner[[0, 1, 2, 3, 4]], inner[[3, 2, 1]] + up * -0.04 * s]
            _poly(img, teeth, (0.85, 0.85, 0.8))
    else:
        _line(img, inner[[0, 1, 2, 3, 4]], tuple(np.array(idt.lip_color, np.float32) * 0.5), 0.015 * s)
    return img


def finish(img: np.ndarray, rng: np.random.Generator, blur: float = 0.6, noise: float = 0.015,
           gain: float = 1.0) -> np.ndarray:
    """Camera effects: optics blur, exposure gain and sensor noise; returns uint8 RGB."""
    if blur > 0:
        img = cv2.GaussianBlur(img, (0, 0), blur)
    img = img * gain + rng.normal(0, noise, img.shape).astype(np.float32)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
