"""Registry of instance builders: one module per pre-training target, registered by target name."""
import importlib
import pkgutil

from uer.registry import Registry

str2builder = Registry("target")

# Importing every module registers its builder; a new target is one new file.
for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
