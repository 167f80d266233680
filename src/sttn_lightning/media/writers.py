"""Output writers: PNG folders and ffmpeg-encoded videos, written to a hidden sibling and moved into
place only when complete, so a failed or interrupted run leaves nothing behind.

Where the output goes is checked before any work (``check_output``: bad input, ``MediaError``); a
failure while writing (a full disk, a file-size limit, the encoder exiting) is an environment fault,
``OutputFault``, raised with the index of the frame being written, after the partial output is removed.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import suppress
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from sttn_lightning.errors import OutputFault
from sttn_lightning.interrupts import deferred_signals
from sttn_lightning.media.errors import MediaError
from sttn_lightning.media.size import Size
from sttn_lightning.media.video import ffmpeg_exe

OUTPUT_CODECS = {  # output suffix -> (video codec, audio codec)
    ".mp4": ("libx264", "aac"),
    ".m4v": ("libx264", "aac"),
    ".mov": ("libx264", "aac"),
    ".mkv": ("libx264", "aac"),
    ".webm": ("libvpx-vp9", "libopus"),
}
PNG_COMPRESSION = 1  # fast; PNG is lossless at every level
FILE_SIZE_LIMIT = "a file-size limit was reached: see `ulimit -f`, or the filesystem's largest file"


def output_kind(path: Path) -> str:
    """'video' for a known video suffix, 'frames' (a PNG folder) for a path without suffix."""
    if path.suffix.lower() in OUTPUT_CODECS:
        return "video"
    if path.suffix == "":
        return "frames"
    raise MediaError(
        f"{path}: expected a video file ({', '.join(OUTPUT_CODECS)}) or a folder name without suffix for PNG frames, "
        f"found suffix {path.suffix!r}; change output="
    )


def check_folder(folder: Path, output: Path) -> None:
    """``folder`` (where ``output`` is written) is a writable folder or can be created: a regular file on
    the way, or a folder without write permission, is bad input, found before any work."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise MediaError(f"{output}: cannot write the output there: {existing} is a file, not a folder; choose another output=")
    if not os.access(existing, os.W_OK | os.X_OK):
        action = "write in" if existing == folder else f"create {folder} in"
        raise MediaError(f"{output}: cannot write the output there: no permission to {action} {existing}; choose another output=")


def check_output(path: Path, overwrite: bool) -> None:
    """The output's suffix, its folder and an existing output (refused unless overwriting), checked before any work."""
    path = Path(path)
    output_kind(path)
    check_folder(path.absolute().parent, path)
    if path.exists() and not overwrite:
        raise MediaError(f"{path}: the output already exists; pass overwrite=true to replace it or choose another output=")


def os_fault_cause(error: OSError) -> str:
    """What an OSError while writing means for the user, with the fix where there is one."""
    reason = error.strerror or str(error)
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{reason} (free some space or write to another disk)"
    if error.errno == errno.EFBIG:
        return f"{reason} ({FILE_SIZE_LIMIT})"
    return reason


def _temporary_name(path: Path, kind: str = "partial") -> Path:
    """A unique hidden sibling of ``path`` with the same suffix (ffmpeg picks the container from it)."""
    return path.with_name(f".{path.stem}.{kind}-{uuid.uuid4().hex[:12]}{path.suffix}")


def publish_folder(folder: Path, write: Callable[[Path], None], published: Callable[[], bool]) -> None:
    """``write`` into a temporary sibling of ``folder``, renamed into place when complete. The first
    writer wins: a rename that fails because another process published first (``published()``) is no error."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        write(temp)
        os.rename(temp, folder)
    except OSError:
        if not published():
            raise
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


class FrameWriter(ABC):
    """Writes frames in order to a temporary sibling of ``path``; ``commit`` moves it into place.

    Used as a context manager: the output is committed when the block ends normally and removed
    (with the parent folders the writer created) when it ends with an exception, an interrupt included.
    """

    def __init__(self, path: Path, overwrite: bool = False) -> None:
        check_output(path, overwrite)
        self.path = path
        self.count = 0  # frames written, i.e. the index of the next one
        self.temporary: Path | None = None  # where the output is written until it is complete (set by _open)
        self._created_parents = [parent for parent in reversed(path.parents) if not parent.exists()]
        with deferred_signals():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._open()
            except OSError as error:
                self.abort()
                raise OutputFault(path, os_fault_cause(error), 0) from error
            except BaseException:
                self.abort()
                raise

    @abstractmethod
    def _open(self) -> None:
        """Create the temporary output (and start whatever writes it)."""

    @abstractmethod
    def write(self, frame: np.ndarray) -> None:
        """Append one uint8 RGB frame (H, W, 3); an OutputFault (partial output removed) when it cannot be written."""

    def _finish(self) -> None:
        """Flush whatever the format buffers before the move."""

    def _fault(self, cause: str) -> OutputFault:
        self.abort()
        return OutputFault(self.path, cause, self.count)

    def commit(self) -> None:
        """Move the complete output into place; an existing output is replaced only once the new one is there."""
        self._finish()
        with deferred_signals():
            replaced = None
            if self.path.exists() or self.path.is_symlink():
                replaced = _temporary_name(self.path, "replaced")
                os.replace(self.path, replaced)
            try:
                os.replace(self.temporary, self.path)
            except OSError as error:
                if replaced is not None:
                    os.replace(replaced, self.path)
                raise self._fault(os_fault_cause(error)) from error
            if replaced is not None:
                _remove(replaced)

    def abort(self) -> None:
        """Remove everything written so far, including parent folders this writer created."""
        with deferred_signals():
            if self.temporary is not None:
                _remove(self.temporary)
            for parent in reversed(self._created_parents):
                try:
                    parent.rmdir()
                except OSError:
                    break

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is not None:
            self.abort()
            return
        try:
            self.commit()
        except BaseException:
            self.abort()
            raise


class PngFolderWriter(FrameWriter):
    """Lossless frames 00000.png, 00001.png, ... in a folder."""

    def _open(self) -> None:
        folder = _temporary_name(self.path)
        folder.mkdir()
        self.temporary = folder

    def write(self, frame: np.ndarray) -> None:
        encoded, data = cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
        if not encoded:
            raise self._fault(f"OpenCV could not encode a PNG of shape {frame.shape}")
        try:
            with open(self.temporary / f"{self.count:05d}.png", "xb") as file:
                file.write(data.tobytes())
        except OSError as error:
            raise self._fault(os_fault_cause(error)) from error
        self.count += 1


class FfmpegVideoWriter(FrameWriter):
    """Raw RGB frames piped to ffmpeg; the source's audio, when it has any, is mapped in.

    Frames with an odd width or height are encoded as 4:4:4 (4:2:0 needs even sizes), so the
    output keeps the input's exact size. ffmpeg runs in its own session, so a terminal's Ctrl-C
    reaches only this process, which stops ffmpeg itself while unwinding.
    """

    def __init__(
        self,
        path: Path,
        size: Size,
        fps: float,
        audio_path: Path | None = None,
        crf: int = 18,
        overwrite: bool = False,
    ) -> None:
        self.size = Size(*size)
        self._fps = fps
        self._audio_path = audio_path
        self._crf = crf
        self._process: subprocess.Popen | None = None
        self._log = None
        super().__init__(path, overwrite)

    def _open(self) -> None:
        file = _temporary_name(self.path)
        video_codec, audio_codec = OUTPUT_CODECS[self.path.suffix.lower()]
        rate = Fraction(self._fps).limit_denominator(1001 * 1000)
        size = self.size
        pixel_format = "yuv420p" if size.width % 2 == 0 and size.height % 2 == 0 else "yuv444p"
        command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
        command += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", str(size), "-r", str(rate), "-i", "-"]
        if self._audio_path is not None:
            command += ["-i", str(self._audio_path), "-map", "0:v:0", "-map", "1:a?", "-c:a", audio_codec]
        command += ["-c:v", video_codec, "-crf", str(self._crf), "-pix_fmt", pixel_format]
        if video_codec == "libvpx-vp9":
            command += ["-b:v", "0"]
        command.append(str(file))
        self._log = tempfile.TemporaryFile()
        self.temporary = file
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log, start_new_session=True
        )

    def _encoder_cause(self) -> str:
        """Why ffmpeg exited: the last line of its log, else its exit code or signal."""
        code = self._process.returncode
        self._log.seek(0)
        lines = [line for line in self._log.read().decode(errors="replace").strip().splitlines() if line.strip()]
        if lines:
            detail = lines[-1]
        elif code == -signal.SIGXFSZ:
            detail = f"killed by SIGXFSZ: {FILE_SIZE_LIMIT}"
        elif code is not None and code < 0:
            detail = f"killed by {signal.Signals(-code).name}"
        else:
            detail = f"exit code {code}"
        return f"the ffmpeg encoder exited ({detail})"

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.size.height, self.size.width, 3):
            raise MediaError(f"{self.path}: expected frames of {self.size}, found {Size.of(frame)}")
        try:
            self._process.stdin.write(np.ascontiguousarray(frame).tobytes())
        except OSError as error:  # BrokenPipeError: ffmpeg exited
            self._process.wait()
            raise self._fault(self._encoder_cause()) from error
        self.count += 1

    def _finish(self) -> None:
        with suppress(OSError):  # ffmpeg already exited; its exit code and log say why
            self._process.stdin.close()
        if self._process.wait() != 0:
            raise self._fault(self._encoder_cause())
        self._log.close()

    def abort(self) -> None:
        with deferred_signals():
            if self._process is not None:
                if self._process.poll() is None:
                    self._process.kill()
                    self._process.wait()
                with suppress(OSError):
                    self._process.stdin.close()
            if self._log is not None:
                self._log.close()
            super().abort()


def open_writer(
    path: str | os.PathLike,
    size: Size,
    fps: float,
    audio_path: Path | None = None,
    crf: int = 18,
    overwrite: bool = False,
) -> FrameWriter:
    """A writer for ``path``: PNG frames for a suffix-less folder name, else a video file."""
    path = Path(path)
    if output_kind(path) == "frames":
        return PngFolderWriter(path, overwrite)
    return FfmpegVideoWriter(path, size, fps, audio_path, crf, overwrite)
