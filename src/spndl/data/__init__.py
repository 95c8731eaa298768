"""Dataset readers, cropping, pairing, folds and the prepared-array format."""
