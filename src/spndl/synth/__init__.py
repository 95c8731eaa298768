"""The embedded synthetic face dataset, written in the real CK+, Oulu-CASIA and RAF-DB layouts.

Generative model
----------------
Every image is drawn from 68 landmarks (``face.py``) by a plain renderer
(``render.py``):

* **Identity.** Each subject draws face shape, eye size and openness, brow
  height and tilt, mouth width and resting curve, lip thickness, skin, hair
  and background tone, permanent wrinkles and a small asymmetry. These are
  the paper's *disturbance* (eqs. 1-2): shared by all of a subject's frames.
* **Expression.** Each class is a FACS prototype, a weighted set of action
  units (AUs); each AU moves a group of landmarks (brows, lids, nose, lip
  corners, jaw) and adds its furrows. A sequence ramps the intensity from 0
  (the neutral first frame) to its peak at the last frames, as CK+ and
  Oulu-CASIA do.
* **The paper's difficulties, on purpose.** Identity traits move the same
  landmarks as AUs by comparable amounts: narrow eyes vs the squint of
  anger and disgust (AU7), a down-turned resting mouth vs sadness (AU15),
  raised or lowered resting brows vs surprise (AU1/2) and anger (AU4),
  permanent lines vs AU furrows (Figure 1). A fifth of the sequences peak at
  low intensity (micro-movements), a few target frames are degraded (blur,
  under-exposure, occlusion) and a few sequences carry a wrong label.

``synth_truth.csv`` beside the layouts records, per sequence or image, the
true and written label, the peak intensity and any degradation, so analyses
can ask which samples SPL excluded. ``SYNTHETIC.txt`` marks the tree, so that
everything prepared from it says it is synthetic.
"""

from spndl.synth.layouts import SIZES, generate

__all__ = ["SIZES", "generate"]
