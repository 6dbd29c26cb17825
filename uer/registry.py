"""Name -> class registries for components chosen on the command line."""
import importlib
import pkgutil

from uer.errors import UerError


class Registry:
    """Maps a CLI name to a component. Duplicate names are refused; unknown names are answered
    with the list of known ones.

    With ``package`` (a package name) the registry imports every module of that package whose
    name does not start with "_" the first time it is read, so each module registers itself and
    a new component is one new file. Until then nothing heavy is imported: an option parser can
    take the registry itself as ``choices`` (argparse only tests ``in`` and iterates)."""

    def __init__(self, kind, package=None):
        self.kind = kind
        self._entries = {}
        self._package = package

    def _load(self):
        if self._package is None:
            return
        package, self._package = self._package, None  # set first: the modules register here
        path = importlib.import_module(package).__path__
        for module in pkgutil.iter_modules(path):
            if not module.name.startswith("_"):
                importlib.import_module(f"{package}.{module.name}")

    def register(self, name):
        def decorator(obj):
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is already registered")
            self._entries[name] = obj
            obj.component_name = f"{self.kind} {name}"  # how errors name it: "encoder bert"
            return obj

        return decorator

    def __getitem__(self, name):
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UerError(f"unknown {self.kind} '{name}'; known: {known}") from None

    def __contains__(self, name):
        self._load()
        return name in self._entries

    def __iter__(self):
        self._load()
        return iter(sorted(self._entries))

    def __len__(self):
        self._load()
        return len(self._entries)

    def get(self, name, default=None):
        self._load()
        return self._entries.get(name, default)
