"""UER: Universal Encoder Representations, a modern reimplementation of UER-py (2020)."""

__version__ = "0.1.0"
