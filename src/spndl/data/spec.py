"""Label codes, folder names and the paper's expected counts of the three datasets.

Sources: the datasets' own READMEs (their counts: docs/real-data.md), and the
paper's section 4.1.
"""

from __future__ import annotations

# CK+ Emotion files hold a code 0..7; the 7-class task uses 1..7 (0 is neutral).
CKPLUS_CLASSES = ["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"]
CKPLUS_CODES = {code: name for code, name in enumerate(CKPLUS_CLASSES, start=1)}

# Oulu-CASIA labels are folder names.
OULU_FOLDERS = {"Anger": "anger", "Disgust": "disgust", "Fear": "fear",
                "Happiness": "happy", "Sadness": "sadness", "Surprise": "surprise"}
OULU_CLASSES = list(OULU_FOLDERS.values())

# RAF-DB basic: list_patition_label.txt codes 1..7.
RAFDB_CLASSES = ["surprise", "fear", "disgust", "happy", "sadness", "anger", "neutral"]
RAFDB_CODES = {code: name for code, name in enumerate(RAFDB_CLASSES, start=1)}

CLASSES = {"ckplus": CKPLUS_CLASSES, "oulu": OULU_CLASSES, "rafdb": RAFDB_CLASSES}

# The paper's pairing rule (section 4.1): the first frame is the neutral
# reference and each of the last three frames is a target.
N_PEAK_FRAMES = 3

EXPECTED = {
    "ckplus": {"subjects": 123, "sequences": 593, "labelled_sequences": 327,
               "labelled_subjects": 118, "samples": 981,
               "sequences_per_class": dict(zip(CKPLUS_CLASSES, [45, 18, 59, 25, 69, 28, 83]))},
    "oulu": {"subjects": 80, "sequences": 480, "labelled_sequences": 480, "samples": 1440,
             "sequences_per_class": {c: 80 for c in OULU_CLASSES}},
    "rafdb": {"train": 12271, "test": 3068,
              "train_per_class": dict(zip(RAFDB_CLASSES, [1290, 281, 717, 4772, 1982, 705, 2524])),
              "test_per_class": dict(zip(RAFDB_CLASSES, [329, 74, 160, 1185, 478, 162, 680]))},
}
