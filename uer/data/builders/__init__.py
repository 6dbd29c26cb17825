"""Registry of instance builders: one module per pre-training target, registered by target name."""
from uer.registry import Registry

# Read for the first time, it imports every module here; each registers itself (a new
# component is one new file).
str2builder = Registry("target", package=__name__)
