"""Atomic, durable writes: neither a killed process nor a power loss leaves a half-written result under its name.

Files are created with the process's umask (0644 under the usual 022), like any file ``open()`` creates, so a
lecturer's prepared data and reports are readable by the students who share the machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from .errors import BadInputError
from .paths import PathLike


def atomic_write(path: PathLike, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` on a new file beside ``path``, make it durable, then rename it over ``path``.

    The rename is atomic on POSIX, so readers see the old file or the new one, never a partial one; the file is
    fsynced before the rename and its folder after, so a power loss cannot leave a zero-length file under the final
    name either. The temporary name keeps ``path``'s suffixes, which savers such as nibabel read the format from.

    Args:
        path: the file to write.
        write: writes the content to the path it is given.

    Returns:
        ``path``.

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "note.txt"
    >>> atomic_write(target, lambda tmp: tmp.write_text("hello")).read_text()
    'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp{''.join(path.suffixes)}")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # 0666 less the umask, as open() does
    try:
        write(tmp)
        _fsync(tmp, os.O_RDONLY)
        os.replace(tmp, path)
        _fsync(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_json(path: PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    text = json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def read_json(path: PathLike) -> Any:
    """The JSON document at ``path``; a damaged file is an error that names it."""
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise BadInputError(f"{path} is not valid JSON ({error}): it was damaged or written by something else") from error


def write_csv(path: PathLike, table: pd.DataFrame) -> Path:
    """Write a table as CSV without its index, atomically (a killed process leaves the old file or the new one).

    Taught in ``06_results``; ``07_explainability`` keeps its table with it too.

    Args:
        path: the CSV file; its folder is created.
        table: the table.
    """
    return atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))


def save_torch(path: PathLike, obj: Any) -> Path:
    """``torch.save`` to a temporary file, then rename: a checkpoint is whole or absent."""
    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def load_torch(path: PathLike, map_location: str | torch.device = "cpu", mmap: bool = False) -> Any:
    """Load a checkpoint without unpickling arbitrary objects (``weights_only=True``).

    A missing file is a ``FileNotFoundError`` and a truncated or foreign one a :class:`BadInputError`, each naming
    the file: never a bare unpickling traceback. ``mmap`` leaves the tensors on disk until read (a check that wants
    a checkpoint's record, not its 130 MB of weights).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint {path} does not exist")
    try:
        try:
            return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
        except RuntimeError:
            if not mmap:
                raise
            # torch.save's legacy (pre-zipfile) format cannot be memory-mapped: read it whole
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        raise BadInputError(
            f"{path} is not a readable checkpoint ({path.stat().st_size} bytes; truncated, damaged or not saved by "
            f"torch.save): {type(error).__name__}: {error}"
        ) from error


def file_sha256(path: PathLike) -> str:
    """SHA-256 of a file's content, cached by its path, size and modification time (hashing r3d_18's 130 MB of
    weights takes a few tenths of a second, and a grid asks for each file once a run).

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "w.pt"
    >>> _ = target.write_bytes(b"weights")
    >>> file_sha256(target)[:12]
    '9a129038d9a0'
    """
    path = Path(path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA256:
        with path.open("rb") as stream:
            _SHA256[key] = hashlib.file_digest(stream, "sha256").hexdigest()
    return _SHA256[key]


_SHA256: dict[tuple[str, int, int], str] = {}


def _fsync(path: Path, flags: int) -> None:
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
