"""The variants of the paper's experiments (section 4.3, Table 4), without torch, so that the
command line can list them before any heavy import."""

# A variant is a reference mode and whether self-paced learning is on.
VARIANTS: dict[str, tuple[str, bool]] = {
    "baseline": ("none", False),
    "spl": ("none", True),
    "ndf": ("neutral", False),
    "spndl": ("neutral", True),
    "ndf_wo_neutral": ("learned", False),
    "spndl_wo_neutral": ("learned", True),
}
