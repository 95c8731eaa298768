"""spndl: Self-Paced Neutral Expression-Disentangled Learning for facial expression recognition."""

__version__ = "0.1.0"
