"""Registry of embeddings: each embedding is one module here, registered under its CLI name."""
import importlib
import pkgutil

from uer.registry import Registry

str2embedding = Registry("embedding")

# Importing every module registers its components; a new embedding is one new file.
for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
