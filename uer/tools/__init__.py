"""Library side of the model utilities in scripts/ (averaging, prefix conversion, checking,
vocabulary adaptation, feature extraction, generation with a key/value cache)."""
