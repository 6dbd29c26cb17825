"""Registry of targets: each target is one module here, registered under its CLI name.

Conventions every target follows (constructor ``(args, vocab_size)``, the returned tuple, and
``tied_output_name`` for --tie_weights) are documented in ``uer/targets/common.py``."""
from uer.registry import Registry

# Read for the first time, it imports every module here; each registers itself (a new
# component is one new file).
str2target = Registry("target", package=__name__)
