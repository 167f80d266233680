"""The package's two failure classes the command-line mains tell apart: bad input (exit code 2) and an
environment fault while writing the output (exit code 1)."""

from __future__ import annotations

import os


class InputError(ValueError):
    """Bad input; the message names the file or option, what was expected and what was found."""


class OutputFault(RuntimeError):
    """Good input, but the environment failed the run while the output was written: a full disk, a
    file-size limit, an encoder that exited, a write error. The partial output is already removed.

    ``frame`` is the index of the frame being written when it failed (None outside a frame stream,
    e.g. a report file).
    """

    def __init__(self, path: str | os.PathLike, cause: str, frame: int | None = None) -> None:
        self.path = path
        self.cause = cause
        self.frame = frame
        where = f" at frame {frame}" if frame is not None else ""
        super().__init__(f"{path}: writing the output failed{where}: {cause}; the partial output was removed")
