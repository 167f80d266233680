"""Video files: probing with the ffmpeg binary, forward-only decoding pipes, and decord for random access.

Sequential readers (inference, evaluation) decode through ffmpeg pipes: a pipe holds only the
frames in flight, so memory does not depend on the video's length (decord's reader keeps
decoded data beyond the frames asked for, dmlc/decord#197). Random clip access (training)
uses decord where it is installed, since seeking to scattered frames is what it does well;
without decord the pipes serve random access too. docs/performance.md compares the two.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import weakref
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

import numpy as np

from sttn_lightning.interrupts import deferred_signals
from sttn_lightning.media.errors import MediaError
from sttn_lightning.media.reader import FrameReader
from sttn_lightning.media.size import Size

DECODE_STREAMS = 2  # forward-only pipes per video: the pipeline's sequential run and its references ahead
_STREAM_LINE = re.compile(r"Stream #\d+:\d+.*?: Video: (.*)")
_FRAME_SIZE = re.compile(r"\b([1-9]\d*)x([1-9]\d*)\b")
_RATE = re.compile(r"([\d.]+) (?:fps|tbr)")
_FRAME_COUNT = re.compile(r"frame=\s*(\d+)")


def ffmpeg_exe() -> str:
    """The ffmpeg binary shipped with imageio-ffmpeg (no system install needed)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def probe(path: Path, what: str = "input") -> tuple[int, Size, float | None]:
    """Frame count, size and frame rate of a video file's first video stream.

    The stream is demuxed without decoding (``-c copy``), so probing is fast and holds no frames.
    """
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"]
    result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace")
    log = result.stderr
    stream = _STREAM_LINE.search(log)
    if result.returncode != 0 or stream is None:
        lines = [line for line in log.strip().splitlines() if line.strip()]
        detail = lines[-1] if lines else f"ffmpeg exit code {result.returncode}"
        raise MediaError(
            f"{path}: expected a readable {what} video, found a file ffmpeg cannot read ({detail}); "
            "re-encode it (e.g. ffmpeg -i IN -c:v libx264 OUT.mp4) or pass a folder of frames"
        )
    size = _FRAME_SIZE.search(stream.group(1))
    counts = _FRAME_COUNT.findall(log)
    if size is None or not counts or int(counts[-1]) == 0:
        raise MediaError(f"{path}: expected a {what} video with frames, found none")
    rate = _RATE.search(stream.group(1))
    return int(counts[-1]), Size(int(size.group(1)), int(size.group(2))), float(rate.group(1)) if rate else None


class _DecodeStream:
    """One ffmpeg process decoding a video forward from frame ``start`` into a pipe of rgb24 frames.

    The process is killed by ``close``, when the stream is garbage-collected or when the interpreter exits.

    Frames before ``start`` are decoded and dropped inside ffmpeg (``select``), which is exact
    whatever the file's timestamps; no autorotation, so frames match the probed size.
    """

    def __init__(self, path: Path, size: Size, start: int) -> None:
        self.path = path
        self.position = start  # the index of the next frame the pipe delivers
        self._frame_bytes = size.width * size.height * 3
        command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-noautorotate", "-i", str(path)]
        command += ["-map", "0:v:0"]
        if start > 0:
            command += ["-vf", f"select=gte(n\\,{start})"]
        command += ["-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
        # ffmpeg gets its own session, so that a terminal's Ctrl-C reaches only this process; a run cut
        # short leaves the stream to the finalizer, which kills ffmpeg at the latest when the interpreter exits
        with deferred_signals():
            self._log = tempfile.TemporaryFile()
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log, bufsize=0, start_new_session=True
            )
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

    def _failure(self) -> MediaError:
        self._process.wait()
        self._log.seek(0)
        lines = self._log.read().decode(errors="replace").strip().splitlines()
        detail = lines[-1] if lines else f"ffmpeg's output ended before it (exit code {self._process.returncode})"
        self.close()
        return MediaError(f"{self.path}: frame {self.position} could not be decoded ({detail}); the file may be truncated or corrupt")

    def close(self) -> None:
        self._closer()


def _stop(process: subprocess.Popen, log: Any) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()
    process.stdout.close()
    log.close()


class StreamedVideo(FrameReader):
    """A video file decoded forward by up to DECODE_STREAMS ffmpeg pipes, frames served by index.

    A frame is taken from the stream nearest behind it. Reaching it from that stream would drop
    the frames in between, so while a stream slot is free a new stream starts at the frame
    instead (the pipeline's references ahead of its sequential run get their own stream); with
    every slot taken the nearest stream skips forward, and a frame behind every stream replaces
    the least recently used one.
    """

    def __init__(self, path: Path, what: str = "input") -> None:
        self.path = path
        self.num_frames, self.size, self.fps = probe(path, what)
        self.audio_path = path
        self._streams: list[_DecodeStream] = []  # least recently used first
        self._skipped = np.empty((self.size.height, self.size.width, 3), np.uint8)

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
        stream = self._stream_for(index)
        try:
            while stream.position < index:
                stream.read_into(self._skipped)
            frame = np.empty_like(self._skipped)
            stream.read_into(frame)
        except MediaError:
            self._streams.remove(stream)
            raise
        if stream.position == self.num_frames:
            self._streams.remove(stream)
            stream.close()
        return frame

    def _read(self, indices: Sequence[int]) -> list[np.ndarray]:
        """Frames decoded in ascending order (so one stream serves a sorted run), returned as asked."""
        decoded = {index: self._frame(index) for index in sorted(set(indices))}
        return [decoded[index] for index in indices]

    def close(self) -> None:
        while self._streams:
            self._streams.pop().close()


class DecordVideo(FrameReader):
    """A video file read by decord, for scattered frames (training clips); needs the decord package."""

    def __init__(self, path: Path, what: str = "input") -> None:
        import decord

        self.path = path
        try:
            self._reader = decord.VideoReader(str(path), num_threads=1)
        except Exception as error:  # decord raises its own DECORDError and RuntimeError for bad files
            raise MediaError(f"{path}: expected a readable {what} video, found a file decord cannot decode ({error})") from error
        self.num_frames = len(self._reader)
        if self.num_frames == 0:
            raise MediaError(f"{path}: expected a {what} video with frames, found none")
        self.size = Size.of(self._reader[0])
        self.fps = float(self._reader.get_avg_fps())
        self.audio_path = path

    def _read(self, indices: Sequence[int]) -> list[np.ndarray]:
        try:
            batch = self._reader.get_batch(list(indices)).asnumpy()
        except Exception as error:
            raise MediaError(f"{self.path}: expected frames {list(indices)}, found {error}") from error
        return list(batch)


def open_video(path: Path, access: str = "sequential", what: str = "input") -> FrameReader:
    """A reader for a video file: ffmpeg pipes for ``sequential`` access, decord (when installed) for ``random``."""
    if access == "random":
        with suppress(ImportError):  # decord is not installed: the pipes serve random access too
            return DecordVideo(path, what)
    return StreamedVideo(path, what)
