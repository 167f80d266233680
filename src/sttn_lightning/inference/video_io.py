"""Streaming video I/O for inference: frames and masks read by index, output written as it comes.

Nothing here holds a whole video. Video files are probed once with decord (frame count, frame
rate, size; a file decord rejects is reported as unreadable) and then decoded sequentially by
the ffmpeg binary into a pipe of raw RGB frames: the pipeline asks for frames almost in order,
so a couple of forward-only decoders serve every read without seeking. decord is not used to
stream because its reader keeps decoded data in RAM beyond the frames asked for (dmlc/decord#197),
so peak RSS grew with the video's length: 1557 MB for 200 frames and 2506 MB for 1,000 frames of
a 1080p H.264 clip (tiny generator, default options), against 787 MB for both with the pipes.
Folders are read one image at a time. Writers take one frame at a time (PNG files, or raw RGB
piped to ffmpeg, which also copies the source's audio). Output goes to a temporary sibling and
is moved into place only when complete, so a failure leaves nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
import weakref
from abc import ABC, abstractmethod
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from sttn_lightning.data.masks import resize_masks
from sttn_lightning.inference.errors import InpaintError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
OUTPUT_CODECS = {  # output suffix -> (video codec, audio codec)
    ".mp4": ("libx264", "aac"),
    ".m4v": ("libx264", "aac"),
    ".mov": ("libx264", "aac"),
    ".mkv": ("libx264", "aac"),
    ".webm": ("libvpx-vp9", "libopus"),
}
DECODE_STREAMS = 2  # forward-only decoders per video: the pipeline's sequential run and its references ahead
ASPECT_TOLERANCE = 0.01  # relative; absorbs the rounding of a mask saved at a scaled size


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _read_image(path: Path, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    """An image file as cv2 reads it with ``flags`` (BGR order); alpha is dropped."""
    image = cv2.imread(str(path), flags)
    if image is None:
        raise InpaintError(f"{path}: expected a readable image, found an unreadable or corrupt file; replace it")
    if image.ndim == 3 and image.shape[2] in (2, 4):
        image = image[..., : image.shape[2] - 1]
    return image


def _probe(path: Path, what: str) -> tuple[int, tuple[int, int], float]:
    """Frame count, (width, height) and average fps of a video file, read with decord and released.

    The first frame is decoded for its size; the reader (and whatever it decoded ahead) is
    dropped before the run starts.
    """
    import decord

    try:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0))
    except Exception as error:  # decord raises its own DECORDError and RuntimeError for bad files
        raise InpaintError(
            f"{path}: expected a readable {what} video, found a file decord cannot decode ({str(error).splitlines()[0]}); "
            "re-encode it (e.g. ffmpeg -i IN -c:v libx264 OUT.mp4) or pass a folder of frames"
        ) from error
    if len(reader) == 0:
        raise InpaintError(f"{path}: expected a {what} video with frames, found none")
    try:
        height, width = reader[0].shape[:2]
    except Exception as error:
        raise InpaintError(f"{path}: expected a readable {what} video, found a first frame that cannot be decoded ({error})") from error
    return len(reader), (int(width), int(height)), float(reader.get_avg_fps())


class _DecodeStream:
    """One ffmpeg process decoding a video forward from frame ``start`` into a pipe of rgb24 frames.

    Frames before ``start`` are decoded and dropped inside ffmpeg (``select``), which is exact
    whatever the file's timestamps; no autorotation, so frames match decord's.
    """

    def __init__(self, path: Path, size: tuple[int, int], start: int) -> None:
        import imageio_ffmpeg

        self.path = path
        self.position = start  # the index of the next frame the pipe delivers
        self._frame_bytes = size[0] * size[1] * 3
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-noautorotate"]
        command += ["-i", str(path), "-map", "0:v:0"]
        if start > 0:
            command += ["-vf", f"select=gte(n\\,{start})"]
        command += ["-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
        self._log = tempfile.TemporaryFile()
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log, bufsize=0)
        self._closer = weakref.finalize(self, _stop, self._process, self._log)

    def read_into(self, frame: np.ndarray) -> None:
        """Fill ``frame`` (contiguous uint8 H x W x 3) with the frame at ``position`` and advance."""
        view = memoryview(frame).cast("B")
        filled = 0
        while filled < self._frame_bytes:
            count = self._process.stdout.readinto(view[filled:])
            if not count:
                raise self._failure()
            filled += count
        self.position += 1

    def _failure(self) -> InpaintError:
        self._process.wait()
        self._log.seek(0)
        lines = self._log.read().decode(errors="replace").strip().splitlines()
        detail = lines[-1] if lines else f"ffmpeg's output ended before it (exit code {self._process.returncode})"
        self.close()
        return InpaintError(f"{self.path}: frame {self.position} could not be decoded ({detail}); the file may be truncated or corrupt")

    def close(self) -> None:
        self._closer()


def _stop(process: subprocess.Popen, log) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()
    process.stdout.close()
    log.close()


class FrameSource(ABC):
    """Random access to the RGB frames of one input, by index."""

    path: Path
    num_frames: int
    size: tuple[int, int]  # (width, height)
    fps: float | None  # None when the input carries no frame rate (a folder)
    audio_path: Path | None  # the file whose audio the output keeps, if any

    @abstractmethod
    def read(self, indices: Sequence[int]) -> list[np.ndarray]:
        """uint8 RGB frames (H, W, 3) in the order of ``indices``."""


class VideoFileFrames(FrameSource):
    """A video file decoded forward by up to DECODE_STREAMS ffmpeg pipes, frames served by index.

    A frame is taken from the stream nearest behind it. Reaching it from that stream would drop
    the frames in between, so while a stream slot is free a new stream starts at the frame
    instead (the pipeline's references ahead of its sequential run get their own stream); with
    every slot taken the nearest stream skips forward, and a frame behind every stream replaces
    the least recently used one. A stream holds only ffmpeg's few frames in flight and a pipe
    buffer, and stops at the end of the video or when the source is garbage collected: memory
    does not depend on the video's length.
    """

    def __init__(self, path: Path, what: str = "input") -> None:
        self.path = path
        self.num_frames, self.size, self.fps = _probe(path, what)
        self.audio_path = path
        self._streams: list[_DecodeStream] = []  # least recently used first
        self._skipped = np.empty((self.size[1], self.size[0], 3), np.uint8)

    def _stream_for(self, index: int) -> _DecodeStream:
        behind = [stream for stream in self._streams if stream.position <= index]
        nearest = max(behind, key=lambda stream: stream.position, default=None)
        slot_free = len(self._streams) < DECODE_STREAMS
        if nearest is not None and (nearest.position == index or not slot_free):
            self._streams.remove(nearest)
        else:
            if not slot_free:
                self._streams.pop(0).close()
            nearest = _DecodeStream(self.path, self.size, index)
        self._streams.append(nearest)
        return nearest

    def _frame(self, index: int) -> np.ndarray:
        if not 0 <= index < self.num_frames:
            raise IndexError(f"{self.path}: frame {index} is outside 0..{self.num_frames - 1}")
        stream = self._stream_for(index)
        try:
            while stream.position < index:
                stream.read_into(self._skipped)
            frame = np.empty_like(self._skipped)
            stream.read_into(frame)
        except InpaintError:
            self._streams.remove(stream)
            raise
        if stream.position == self.num_frames:
            self._streams.remove(stream)
            stream.close()
        return frame

    def read(self, indices: Sequence[int]) -> list[np.ndarray]:
        """Frames decoded in ascending order (so one stream serves a sorted run), returned as asked."""
        decoded = {index: self._frame(index) for index in sorted(set(indices))}
        return [decoded[index] for index in indices]


class FolderFrames(FrameSource):
    """A folder of image files in name order, read one file at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._files = _image_files(path)
        if not self._files:
            raise InpaintError(
                f"{path}: expected a folder of frames ({', '.join(IMAGE_SUFFIXES)}), found no image files; "
                "point video= at the folder holding the frames"
            )
        self.num_frames = len(self._files)
        height, width = self._load(self._files[0]).shape[:2]
        self.size = (width, height)
        self.fps = None
        self.audio_path = None

    def _load(self, file: Path) -> np.ndarray:
        """uint8 RGB, whatever the file's depth or channels (grey, alpha, 16 bit)."""
        return cv2.cvtColor(_read_image(file, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

    def read(self, indices: Sequence[int]) -> list[np.ndarray]:
        frames = []
        for index in indices:
            frame = self._load(self._files[index])
            if frame.shape[1::-1] != self.size:
                raise InpaintError(
                    f"{self._files[index]}: expected a frame of {self.size[0]}x{self.size[1]} like "
                    f"{self._files[0].name}, found {frame.shape[1]}x{frame.shape[0]}; resize the frames to one size"
                )
            frames.append(frame)
        return frames


def open_frames(path: str | os.PathLike) -> FrameSource:
    """The frames of ``path``: a video file or a folder of images."""
    path = Path(path)
    if path.is_dir():
        return FolderFrames(path)
    if not path.is_file():
        raise InpaintError(f"{path}: expected a video file or a folder of frames, found nothing there; check video=")
    return VideoFileFrames(path)


def _same_aspect(size: tuple[int, int], other: tuple[int, int]) -> bool:
    return abs(size[0] * other[1] - size[1] * other[0]) <= ASPECT_TOLERANCE * size[1] * other[0]


def _to_hole_mask(image: np.ndarray) -> np.ndarray:
    """Any non-zero channel value is hole: uint8 {0, 1} (H, W)."""
    return (image.reshape(image.shape[0], image.shape[1], -1) > 0).any(axis=2).astype(np.uint8)


class MaskSource:
    """Hole masks for the frames of a video, read by frame index and resized (nearest) on request.

    The source is one image (the same hole in every frame), a folder of images or a video with
    one mask per frame. ``mask_repeat="last"`` lets a shorter sequence reuse its last mask.
    """

    def __init__(self, path: str | os.PathLike, num_frames: int, frame_size: tuple[int, int], mask_repeat: str = "error"):
        if mask_repeat not in ("error", "last"):
            raise InpaintError(f"mask_repeat: expected 'error' or 'last', found {mask_repeat!r}")
        self.path = Path(path)
        self._single: np.ndarray | None = None
        self._files: list[Path] = []
        self._reader = None
        if self.path.is_dir():
            self._files = _image_files(self.path)
            if not self._files:
                raise InpaintError(f"{self.path}: expected a folder of mask images, found no image files; check mask=")
            count = len(self._files)
            self.size = _read_image(self._files[0]).shape[1::-1]
        elif not self.path.is_file():
            raise InpaintError(f"{self.path}: expected a mask image, folder of masks or mask video, found nothing there; check mask=")
        elif self.path.suffix.lower() in IMAGE_SUFFIXES:
            self._single = _to_hole_mask(_read_image(self.path))
            count = None
            self.size = self._single.shape[1::-1]
        else:
            self._reader = VideoFileFrames(self.path, "mask")
            count = self._reader.num_frames
            self.size = self._reader.size
        self._check_count(count, num_frames, mask_repeat)
        self._count = count
        if not _same_aspect(self.size, frame_size):
            raise InpaintError(
                f"{self.path}: expected masks of {frame_size[0]}x{frame_size[1]} (or the same aspect ratio) like the "
                f"video's frames, found {self.size[0]}x{self.size[1]}; resize or pad the masks to the video's size"
            )

    def _check_count(self, count: int | None, num_frames: int, mask_repeat: str) -> None:
        if count is None or count == num_frames:
            return
        if count < num_frames and mask_repeat == "last":
            return
        fix = "pass mask_repeat=last to reuse the last mask" if count < num_frames else "remove the extra masks"
        raise InpaintError(f"{self.path}: expected {num_frames} masks, one per frame of the video, found {count}; {fix}")

    def _read_files(self, positions: Sequence[int]) -> list[np.ndarray]:
        masks = []
        for position in positions:
            mask = _to_hole_mask(_read_image(self._files[position]))
            if mask.shape[1::-1] != self.size:
                raise InpaintError(
                    f"{self._files[position]}: expected a mask of {self.size[0]}x{self.size[1]} like "
                    f"{self._files[0].name}, found {mask.shape[1]}x{mask.shape[0]}; give every mask one size"
                )
            masks.append(mask)
        return masks

    def read(self, indices: Sequence[int], size: tuple[int, int]) -> list[np.ndarray]:
        """uint8 {0, 1} masks (H, W) of the given frames at ``size`` (width, height)."""
        if self._single is not None:
            masks = [self._single] * len(indices)
        else:
            positions = [min(index, self._count - 1) for index in indices]
            if self._files:
                masks = self._read_files(positions)
            else:
                masks = [_to_hole_mask(frame) for frame in self._reader.read(positions)]
        return list(resize_masks(np.stack(masks), (size[1], size[0])))


def output_kind(path: Path) -> str:
    """'video' for a known video suffix, 'frames' (a PNG folder) for a path without suffix."""
    if path.suffix.lower() in OUTPUT_CODECS:
        return "video"
    if path.suffix == "":
        return "frames"
    raise InpaintError(
        f"{path}: expected a video file ({', '.join(OUTPUT_CODECS)}) or a folder name without suffix for PNG frames, "
        f"found suffix {path.suffix!r}; change output="
    )


def check_output(path: Path, overwrite: bool) -> None:
    """Refuse an existing output unless overwriting was asked for; done before any work starts."""
    output_kind(path)
    if path.exists() and not overwrite:
        raise InpaintError(f"{path}: the output already exists; pass overwrite=true to replace it or choose another output=")


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
            raise InpaintError(f"{file}: the frame could not be written; check the disk space and permissions of {self.path.parent}")
        self.count += 1


class FfmpegVideoWriter(FrameWriter):
    """Raw RGB frames piped to ffmpeg; the source's audio, when it has any, is mapped in.

    Frames with an odd width or height are encoded as 4:4:4 (4:2:0 needs even sizes), so the
    output keeps the input's exact size.
    """

    def __init__(
        self,
        path: Path,
        size: tuple[int, int],
        fps: float,
        audio_path: Path | None = None,
        crf: int = 18,
        overwrite: bool = False,
    ) -> None:
        import imageio_ffmpeg

        super().__init__(path, overwrite)
        self._file = _temporary_name(path)
        self.size = size
        video_codec, audio_codec = OUTPUT_CODECS[path.suffix.lower()]
        rate = Fraction(fps).limit_denominator(1001 * 1000)
        pixel_format = "yuv420p" if size[0] % 2 == 0 and size[1] % 2 == 0 else "yuv444p"
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
        command += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{size[0]}x{size[1]}", "-r", str(rate), "-i", "-"]
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

    def _failure(self) -> InpaintError:
        self._log.seek(0)
        message = self._log.read().decode(errors="replace").strip().splitlines()
        detail = message[-1] if message else f"exit code {self._process.returncode}"
        return InpaintError(f"{self.path}: ffmpeg could not encode the output ({detail})")

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.size[1], self.size[0], 3):
            raise InpaintError(f"{self.path}: expected frames of {self.size[0]}x{self.size[1]}, found {frame.shape[1]}x{frame.shape[0]}")
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
    size: tuple[int, int],
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
