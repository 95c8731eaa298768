"""OpenCV as every spndl module uses it: without Intel IPP.

IPP picks its code path by processor (AVX2 on one host, AVX-512 on another) and so may
round differently; OpenCV's own kernels, capped at AVX2 by ``spndl.runtime.numerics``, give the
same images everywhere. ``setUseIPP`` holds for the calling thread, the one that calls
OpenCV here (and the processes ``spndl synth`` forks from it).
"""

import cv2

cv2.ipp.setUseIPP(False)

__all__ = ["cv2"]
