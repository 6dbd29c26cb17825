"""Registry of encoders: each encoder is one module here, registered under its CLI name."""
from uer.registry import Registry

# Read for the first time, it imports every module here; each registers itself (a new
# component is one new file).
str2encoder = Registry("encoder", package=__name__)
