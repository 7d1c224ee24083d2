"""What the notebooks stand on: exercises and their checks, expected figures and how they are measured, the notebook runner, the site, figures.

The names below are what a notebook imports from here, beside ``brainclf_lib``'s own: the course's machinery rather
than the method it teaches (``from brainclf_lib.course import check, check_parameters, expect``). Each is imported
from its module on first use, as ``brainclf_lib``'s names are.
"""

import importlib

import pandas as pd

from .tables import table_number

#: Every notebook imports from here first thing, so every table it shows uses the one number format.
pd.set_option("display.float_format", table_number)

#: Each name a notebook imports from here and the module that defines it (relative to this package).
_HOMES: dict[str, tuple[str, ...]] = {
    ".exercises": ("check",),
    ".expectations": ("expect", "measured_table", "tendency"),
    ".notebooks": ("check_parameters",),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    """Import a name's module on first use, and keep the name (PEP 562)."""
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULE_OF[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
