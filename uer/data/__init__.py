"""Pre-training data: instance builders per target, masking, the dataset file and its loader."""
