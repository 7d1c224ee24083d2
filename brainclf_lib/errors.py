"""Errors that name the file or folder at fault and say what was expected."""


class BadInputError(ValueError):
    """An input file or folder is unreadable, of the wrong kind, or not laid out as expected."""


class SplitLeakError(ValueError):
    """A subject appears on both sides of a split."""


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss."""


class RunExistsError(FileExistsError):
    """A run folder holds an earlier run (a finished one, or one made by other settings) that the call would reuse."""


class RunLockedError(RuntimeError):
    """Another live process is training the run folder."""


class GridIncompleteError(RuntimeError):
    """Runs of a grid submitted to a cluster ended without finishing (the message names each, with its log)."""


class MissingExtraError(ModuleNotFoundError, RuntimeError):
    """A package of one of brainclf's extras is not installed; the message names the extra that installs it.

    A :class:`ModuleNotFoundError`, so code that catches import errors still does, and a :class:`RuntimeError`, so
    that the command line prints it as the one line it is."""


class ManifestError(BadInputError):
    """A scan manifest (``data/real/manifest.csv``, or a researcher's own) is malformed: the message names the
    manifest, the line and the file at fault."""
