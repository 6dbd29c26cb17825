"""Name -> class registries for components chosen on the command line."""
from uer.errors import UerError


class Registry:
    """Maps a CLI name to a component. Duplicate names are refused; unknown names are answered
    with the list of known ones."""

    def __init__(self, kind):
        self.kind = kind
        self._entries = {}

    def register(self, name):
        def decorator(obj):
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is already registered")
            self._entries[name] = obj
            return obj

        return decorator

    def __getitem__(self, name):
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UerError(f"unknown {self.kind} '{name}'; known: {known}") from None

    def __contains__(self, name):
        return name in self._entries

    def __iter__(self):
        return iter(sorted(self._entries))

    def __len__(self):
        return len(self._entries)

    def names(self):
        return sorted(self._entries)

    def get(self, name, default=None):
        return self._entries.get(name, default)
