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
