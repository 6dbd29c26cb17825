"""Registry of targets: each target is one module here, registered under its CLI name.

Conventions every target follows (constructor ``(args, vocab_size)``, the returned tuple, and
``tied_output_name`` for --tie_weights) are documented in ``uer/targets/common.py``."""
import importlib
import pkgutil

from uer.registry import Registry

str2target = Registry("target")

# Importing every module registers its components; a new target is one new file.
for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
