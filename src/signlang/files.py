"""Atomic file writes: each output file appears whole or not at all.

Files are written under a temporary name beside their destination and renamed onto it. The rename
is atomic: a reader (or DVC) sees the old file or the whole new one, never a part, even if the
process is killed mid-write. A kill leaves the temporary file (``.<name>.<random>.tmp``) behind; the
next write of the same output deletes it. There is no fsync: surviving power loss is not the goal here.

A stage's outputs are renamed one after another, once all of them are written (``staged_outputs``):
a kill during those few renames can leave some outputs new and the others old. That does no harm
under DVC, which records a stage in dvc.lock only after it exits with 0: the next `dvc repro` sees
the stage as changed and runs it again.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

Writer = Callable[[BinaryIO], None]


def _write_temp(path: Path, write: Writer) -> Path:
    """Write a temporary file beside ``path`` with ``write(handle)``; remove it if that fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temp = Path(name)
    try:
        os.chmod(temp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as handle:
            write(handle)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def remove_stale_temps(path: Path) -> None:
    """Delete temporary files of ``path`` that a killed run left behind (SIGKILL skips every cleanup).
    Each output has one writer at a time (DVC locks the repository), so none of these is in use."""
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        stale.unlink(missing_ok=True)


def write_atomic(path: Path, write: Writer) -> None:
    """Call ``write(handle)`` on a temporary file, then rename it onto ``path``."""
    os.replace(_write_temp(path, write), path)


class StagedFiles:
    """Outputs written under temporary names, renamed into place by ``staged_outputs``."""

    def __init__(self) -> None:
        self.pending: list[tuple[Path, Path]] = []  # (temporary, final); list.append is thread-safe

    def write(self, path: Path, write: Writer) -> None:
        self.pending.append((_write_temp(path, write), path))

    def save_npy(self, path: Path, array: np.ndarray) -> None:
        self.write(path, lambda handle: np.save(handle, array, allow_pickle=False))

    def write_json(self, path: Path, data: Any) -> None:
        self.write(path, lambda handle: handle.write(json_bytes(data)))


@contextmanager
def staged_outputs() -> Iterator[StagedFiles]:
    """Collect outputs in the block; if it succeeds, rename each into place (one after another), and if
    it raises, delete them all, so a failed stage changes no output."""
    staged = StagedFiles()
    try:
        yield staged
    except BaseException:
        for temp, _ in staged.pending:
            temp.unlink(missing_ok=True)
        raise
    for temp, final in staged.pending:
        os.replace(temp, final)


def json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=2) + "\n").encode("utf-8")


def read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
