"""Output writers: PNG folders and ffmpeg-encoded videos, written to a hidden sibling and moved into
place only when complete, so a failed or interrupted run leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from abc import ABC, abstractmethod
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

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


def check_output(path: Path, overwrite: bool) -> None:
    """Refuse an existing output unless overwriting was asked for; done before any work starts."""
    output_kind(path)
    if path.exists() and not overwrite:
        raise MediaError(f"{path}: the output already exists; pass overwrite=true to replace it or choose another output=")


def _temporary_name(path: Path) -> Path:
    """A unique hidden sibling of ``path`` with the same suffix (ffmpeg picks the container from it)."""
    return path.with_name(f".{path.stem}.partial-{uuid.uuid4().hex[:12]}{path.suffix}")


class FrameWriter(ABC):
    """Writes frames in order to a temporary sibling of ``path``; ``commit`` moves it into place."""

    def __init__(self, path: Path, overwrite: bool) -> None:
        check_output(path, overwrite)
        self.path = path
        self._created_parents = [parent for parent in reversed(path.parents) if not parent.exists()]
        path.parent.mkdir(parents=True, exist_ok=True)
        self.count = 0

    @property
    @abstractmethod
    def temporary(self) -> Path:
        """Where the output is written until it is complete."""

    @abstractmethod
    def write(self, frame: np.ndarray) -> None:
        """Append one uint8 RGB frame (H, W, 3)."""

    def _finish(self) -> None:
        """Flush whatever the format buffers before the move."""

    def commit(self) -> None:
        self._finish()
        if self.path.is_dir() and not self.path.is_symlink():
            shutil.rmtree(self.path)
        elif self.path.exists() or self.path.is_symlink():
            self.path.unlink()
        os.replace(self.temporary, self.path)

    def abort(self) -> None:
        """Remove everything written so far, including parent folders this writer created."""
        if self.temporary.is_dir():
            shutil.rmtree(self.temporary, ignore_errors=True)
        else:
            self.temporary.unlink(missing_ok=True)
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

    def __init__(self, path: Path, overwrite: bool = False) -> None:
        super().__init__(path, overwrite)
        self._folder = _temporary_name(path)
        self._folder.mkdir()

    @property
    def temporary(self) -> Path:
        return self._folder

    def write(self, frame: np.ndarray) -> None:
        file = self._folder / f"{self.count:05d}.png"
        if not cv2.imwrite(str(file), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1]):
            raise MediaError(f"{file}: the frame could not be written; check the disk space and permissions of {self.path.parent}")
        self.count += 1


class FfmpegVideoWriter(FrameWriter):
    """Raw RGB frames piped to ffmpeg; the source's audio, when it has any, is mapped in.

    Frames with an odd width or height are encoded as 4:4:4 (4:2:0 needs even sizes), so the
    output keeps the input's exact size.
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
        super().__init__(path, overwrite)
        self._file = _temporary_name(path)
        self.size = size = Size(*size)
        video_codec, audio_codec = OUTPUT_CODECS[path.suffix.lower()]
        rate = Fraction(fps).limit_denominator(1001 * 1000)
        pixel_format = "yuv420p" if size.width % 2 == 0 and size.height % 2 == 0 else "yuv444p"
        command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
        command += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", str(size), "-r", str(rate), "-i", "-"]
        if audio_path is not None:
            command += ["-i", str(audio_path), "-map", "0:v:0", "-map", "1:a?", "-c:a", audio_codec]
        command += ["-c:v", video_codec, "-crf", str(crf), "-pix_fmt", pixel_format]
        if video_codec == "libvpx-vp9":
            command += ["-b:v", "0"]
        command.append(str(self._file))
        self._log = tempfile.TemporaryFile()
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log)

    @property
    def temporary(self) -> Path:
        return self._file

    def _failure(self) -> MediaError:
        self._log.seek(0)
        message = self._log.read().decode(errors="replace").strip().splitlines()
        detail = message[-1] if message else f"exit code {self._process.returncode}"
        return MediaError(f"{self.path}: ffmpeg could not encode the output ({detail})")

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.size.height, self.size.width, 3):
            raise MediaError(f"{self.path}: expected frames of {self.size}, found {Size.of(frame)}")
        try:
            self._process.stdin.write(np.ascontiguousarray(frame).tobytes())
        except BrokenPipeError as error:
            self._process.wait()
            raise self._failure() from error
        self.count += 1

    def _finish(self) -> None:
        try:
            self._process.stdin.close()
        except BrokenPipeError:
            pass  # ffmpeg already exited; its exit code and log say why
        if self._process.wait() != 0:
            raise self._failure()
        self._log.close()

    def abort(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
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
