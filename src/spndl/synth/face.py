"""Face geometry of the synthetic data: 68 landmarks from identity and expression.

Coordinates are in *face units*: origin between the eyes and the nose, x to
the image's right, y down, half the face width = 1. The 68 points follow the
iBUG/Multi-PIE scheme that CK+'s landmark files use (0-16 jaw, 17-26 brows,
27-35 nose, 36-47 eyes, 48-67 lips), so the CK+ crop rule of the paper
(section 4.2: the box spanned by the extreme landmarks) applies unchanged.

A face is ``identity shape + intensity * expression displacement``.
Expressions are built from facial action units (AUs) as FACS describes the
prototypical basic emotions; each AU moves one group of landmarks. Several
identity traits move the *same* landmarks by comparable amounts (narrow
eyes vs the squint of AU7, a down-turned resting mouth vs AU15, high or low
resting brows vs AU1/2 and AU4: the paper's Figure 1). A classifier that sees
the peak frame alone must untangle the two; the subtraction of eq. 3 removes
the identity part, since the neutral frame carries it too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

N_LANDMARKS = 68
JAW = slice(0, 17)
BROW_R, BROW_L = slice(17, 22), slice(22, 27)
NOSE_BRIDGE, NOSE_BASE = slice(27, 31), slice(31, 36)
EYE_R, EYE_L = slice(36, 42), slice(42, 48)
LIP_OUTER, LIP_INNER = slice(48, 60), slice(60, 68)
UPPER_LIP = [49, 50, 51, 52, 53, 61, 62, 63]
LOWER_LIP = [55, 56, 57, 58, 59, 65, 66, 67]
CORNERS = [48, 54, 60, 64]

# FACS prototypes (Ekman & Friesen's EMFACS table): AU -> weight at full intensity.
EXPRESSION_AUS: dict[str, dict[str, float]] = {
    "neutral": {},
    "anger": {"AU4": 1.0, "AU7": 0.9, "AU24": 0.9, "AU5": 0.2},
    "contempt": {"AU14": 1.0},
    "disgust": {"AU9": 1.0, "AU10": 0.8, "AU7": 0.6, "AU4": 0.4, "AU15": 0.3},
    "fear": {"AU1": 0.9, "AU2": 0.6, "AU4": 0.5, "AU5": 1.0, "AU20": 1.0, "AU26": 0.4},
    "happy": {"AU6": 1.0, "AU12": 1.0, "AU26": 0.15},
    "sadness": {"AU1": 1.0, "AU4": 0.6, "AU15": 1.0, "AU17": 0.5},
    "surprise": {"AU1": 1.0, "AU2": 1.0, "AU5": 0.8, "AU26": 1.0},
}


def template() -> np.ndarray:
    """The mean neutral shape, (68, 2) in face units."""
    p = np.zeros((N_LANDMARKS, 2))
    t = np.linspace(-0.05 * np.pi, 1.05 * np.pi, 17)
    p[JAW] = np.c_[-np.cos(t), 1.25 * np.sin(t)]
    bx = np.linspace(-0.78, -0.18, 5)
    p[BROW_R] = np.c_[bx, -0.52 - 0.08 * np.sin(np.pi * (bx + 0.78) / 0.6)]
    p[BROW_L] = p[BROW_R][::-1] * [-1, 1]
    p[NOSE_BRIDGE] = np.c_[np.zeros(4), np.linspace(-0.3, 0.15, 4)]
    p[NOSE_BASE] = np.c_[np.linspace(-0.18, 0.18, 5), [0.25, 0.28, 0.30, 0.28, 0.25]]
    w, h = 0.16, 0.07
    eye = np.array([[-w, 0], [-w / 3, -h], [w / 3, -h], [w, 0], [w / 3, h], [-w / 3, h]])
    p[EYE_R] = eye + [-0.42, -0.25]
    p[EYE_L] = eye + [0.42, -0.25]
    p[LIP_OUTER] = [[-0.36, 0.62], [-0.22, 0.56], [-0.08, 0.53], [0, 0.545], [0.08, 0.53],
                    [0.22, 0.56], [0.36, 0.62], [0.22, 0.70], [0.08, 0.74], [0, 0.745],
                    [-0.08, 0.74], [-0.22, 0.70]]
    p[LIP_INNER] = [[-0.30, 0.62], [-0.1, 0.615], [0, 0.62], [0.1, 0.615], [0.30, 0.62],
                    [0.1, 0.625], [0, 0.628], [-0.1, 0.625]]
    return p


@dataclass
class Identity:
    """A subject: the traits shared by all of their frames (the 'disturbance', eq. 1-2)."""

    face_w: float = 1.0
    face_h: float = 1.0
    eye_open: float = 1.0      # < 0.7 reads as a squint (anger, disgust)
    eye_size: float = 1.0
    eye_spacing: float = 1.0
    brow_height: float = 0.0   # > 0 raised (surprise, fear); < 0 lowered (anger)
    brow_tilt: float = 0.0     # > 0 inner ends lowered, a resting frown
    mouth_width: float = 1.0
    mouth_curve: float = 0.0   # > 0 corners down (sadness); < 0 up (happy)
    lip_thickness: float = 1.0
    nose_length: float = 1.0
    expressivity: float = 1.0
    skin: tuple[float, float, float] = (0.8, 0.65, 0.55)
    hair: tuple[float, float, float] = (0.2, 0.15, 0.1)
    brow_dark: float = 0.25
    lip_color: tuple[float, float, float] = (0.7, 0.4, 0.4)
    background: float = 0.5
    forehead_lines: float = 0.0  # identity wrinkles that mimic AU1/2
    nasolabial: float = 0.0      # identity folds that mimic AU9/10/12
    glabella: float = 0.0        # identity frown lines that mimic AU4
    asymmetry: np.ndarray = field(default_factory=lambda: np.zeros((N_LANDMARKS, 2)))


def sample_identity(rng: np.random.Generator) -> Identity:
    """Draw a subject. Trait ranges overlap the AU displacements on purpose."""
    skin_base = rng.uniform(0.35, 0.9)
    skin = tuple(np.clip(skin_base * np.array([1.0, 0.82, 0.7]) + rng.normal(0, 0.03, 3), 0, 1))
    hair_v = rng.uniform(0.05, 0.6)
    lip = np.clip(np.array(skin) * [0.95, 0.6, 0.6] + rng.normal(0, 0.03, 3), 0, 1)
    return Identity(
        face_w=rng.uniform(0.88, 1.12),
        face_h=rng.uniform(0.88, 1.12),
        eye_open=float(np.exp(rng.uniform(np.log(0.45), np.log(1.5)))),
        eye_size=rng.uniform(0.85, 1.15),
        eye_spacing=rng.uniform(0.9, 1.1),
        brow_height=rng.uniform(-0.08, 0.10),
        brow_tilt=rng.uniform(-0.04, 0.06),
        mouth_width=rng.uniform(0.85, 1.15),
        mouth_curve=rng.uniform(-0.06, 0.08),
        lip_thickness=rng.uniform(0.7, 1.3),
        nose_length=rng.uniform(0.88, 1.12),
        expressivity=rng.uniform(0.75, 1.15),
        skin=skin,
        hair=tuple(np.clip(hair_v * np.array([1.0, 0.85, 0.7]), 0, 1)),
        brow_dark=rng.uniform(0.1, 0.45),
        lip_color=tuple(lip),
        background=rng.uniform(0.25, 0.85),
        forehead_lines=rng.uniform(0, 1) ** 2,
        nasolabial=rng.uniform(0, 1) ** 2,
        glabella=rng.uniform(0, 1) ** 3,
        asymmetry=rng.normal(0, 0.012, (N_LANDMARKS, 2)),
    )


def neutral_shape(idt: Identity) -> np.ndarray:
    """Template deformed by the identity's traits, (68, 2) face units."""
    p = template()
    p[JAW] *= [idt.face_w, idt.face_h]
    for eye, _sign in ((EYE_R, -1), (EYE_L, 1)):
        c = p[eye].mean(0)
        c[0] *= idt.eye_spacing
        q = (p[eye] - p[eye].mean(0)) * [idt.eye_size, idt.eye_size * idt.eye_open]
        p[eye] = q + c
    for brow in (BROW_R, BROW_L):
        inner = np.abs(p[brow, 0]) < 0.3
        p[brow, 1] -= idt.brow_height
        p[brow, 1] += np.where(inner, idt.brow_tilt, 0.0)
        p[brow, 0] *= idt.eye_spacing
    p[NOSE_BRIDGE, 1] = -0.3 + (p[NOSE_BRIDGE, 1] + 0.3) * idt.nose_length
    p[NOSE_BASE, 1] = -0.3 + (p[NOSE_BASE, 1] + 0.3) * idt.nose_length
    lips = np.r_[LIP_OUTER.start:LIP_INNER.stop]
    mc = np.array([0.0, 0.63])
    q = p[lips] - mc
    q[:, 0] *= idt.mouth_width
    q[:, 1] *= idt.lip_thickness
    # The resting curve bends the corners, most at the ends: 'down-turned mouth'.
    q[:, 1] += idt.mouth_curve * (np.abs(q[:, 0]) / 0.36) ** 2
    p[lips] = q + mc
    return p + idt.asymmetry


def au_displacement(p: np.ndarray, aus: dict[str, float]) -> np.ndarray:
    """Landmark displacement (68, 2) of a set of weighted AUs, applied to shape p."""
    d = np.zeros_like(p)
    w = {k: aus.get(k, 0.0) for k in
         ("AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU10", "AU12", "AU14",
          "AU15", "AU17", "AU20", "AU24", "AU26")}
    for brow in (BROW_R, BROW_L):
        x = np.abs(p[brow, 0])
        inner = np.clip((0.6 - x) / 0.4, 0, 1)  # 1 at the inner end, 0 outside
        d[brow, 1] -= 0.13 * w["AU1"] * inner + 0.12 * w["AU2"] * (1 - inner)
        d[brow, 1] += 0.09 * w["AU4"] * (0.4 + 0.6 * inner)
        d[brow, 0] -= np.sign(p[brow, 0]) * 0.06 * w["AU4"] * inner
    for eye in (EYE_R, EYE_L):
        c = p[eye, 1].mean()
        upper = p[eye, 1] < c - 1e-9
        lower = p[eye, 1] > c + 1e-9
        h = p[eye, 1] - c
        # AU5 widens, AU7 tightens the lids; AU6 lifts the lower lid from below.
        d[eye, 1] += h * (0.6 * w["AU5"] - 0.55 * w["AU7"])
        d[eye, 1] -= np.where(lower, 0.035 * w["AU6"], 0.0)
        d[eye, 1] += np.where(upper, 0.01 * w["AU6"], 0.0)
    d[NOSE_BASE, 1] -= 0.05 * w["AU9"]
    d[29:31, 1] -= 0.025 * w["AU9"]
    up = [49, 50, 51, 52, 53, 61, 62, 63]
    d[up, 1] -= 0.05 * w["AU10"] + 0.02 * w["AU9"]
    lo = [55, 56, 57, 58, 59, 65, 66, 67]
    d[lo, 1] += 0.28 * w["AU26"]
    d[JAW.start + 5:JAW.start + 12, 1] += 0.2 * w["AU26"] * np.sin(np.linspace(0.3, np.pi - 0.3, 7))
    d[lo, 1] -= 0.04 * w["AU17"]
    d[57, 1] -= 0.02 * w["AU17"]
    for k, s in ((48, -1), (60, -1), (54, 1), (64, 1)):
        d[k, 0] += s * (0.07 * w["AU12"] + 0.11 * w["AU20"] - 0.06 * w["AU24"])
        d[k, 1] += -0.09 * w["AU12"] + 0.09 * w["AU15"] + 0.02 * w["AU20"]
    # AU14 is unilateral: one corner pulled back and up (contempt).
    for k in (54, 64):
        d[k] += [0.06 * w["AU14"], -0.06 * w["AU14"]]
    d[[53, 55], 1] -= 0.03 * w["AU14"]
    # AU24 presses the lips: thinner red margin.
    mid = p[LIP_OUTER, 1].mean()
    d[LIP_OUTER, 1] -= 0.45 * w["AU24"] * (p[LIP_OUTER, 1] - mid)
    d[LIP_INNER, 1] -= 0.45 * w["AU24"] * (p[LIP_INNER, 1] - mid)
    return d


def expression_shape(idt: Identity, expression: str, intensity: float) -> np.ndarray:
    """Landmarks of an identity showing an expression at an intensity in [0, 1]."""
    p = neutral_shape(idt)
    aus = {k: v * intensity * idt.expressivity for k, v in EXPRESSION_AUS[expression].items()}
    return p + au_displacement(p, aus)


def au_weights(expression: str, intensity: float, idt: Identity) -> dict[str, float]:
    """The AU weights the renderer needs for wrinkles and mouth opening."""
    return {k: v * intensity * idt.expressivity for k, v in EXPRESSION_AUS[expression].items()}
