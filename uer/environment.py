"""Environment variables the project reads, checked when a script starts (uer/errors.cli_main)
so that a bad value is a one-line error before any work, not a failure at the first forward.
Kept free of torch imports: scripts that never load torch check them too."""
import os

from uer.errors import UerError

# name -> accepted values (lower case); the first is the default
LINEAR_BACKEND = "UER_LINEAR_BACKEND"
CHOICES = {LINEAR_BACKEND: ("auto", "onednn", "mkl")}


def read_choice(name):
    """The value of ``name`` (one of CHOICES[name]; the default when unset or empty)."""
    choices = CHOICES[name]
    value = os.environ.get(name, "").strip().lower() or choices[0]
    if value not in choices:
        raise UerError(f"environment variable {name}={value}: unknown value; known: "
                       f"{', '.join(choices)}")
    return value


def check_environment():
    for name in CHOICES:
        read_choice(name)
