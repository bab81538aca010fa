"""Writing mp4 videos with PyAV, atomically: a failed write never leaves a half file behind."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np

from vstm.errors import ShapeError, VstmError
from vstm.io import atomic_path

__all__ = ["VideoWriter", "write_video"]


class VideoWriter:
    """Write RGB uint8 frames (H, W, 3) to an mp4 file.

    Encodes H.264 (``libx264``, ``yuv420p``, playable everywhere) when PyAV's FFmpeg has it,
    else MPEG-4 part 2 (``mpeg4``). yuv420p needs even sizes, so a frame with an odd height
    or width is padded by repeating its last row or column; every frame must have the first
    frame's size. The video goes to a temporary file beside ``path`` that replaces ``path``
    only when the ``with`` block exits cleanly; on an exception the temporary file is deleted
    and an existing ``path`` is left untouched.

    >>> import numpy as np, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "clip.mp4"
    >>> with VideoWriter(p, fps=5) as vw:
    ...     for i in range(3):
    ...         vw.write(np.full((16, 16, 3), 80 * i, np.uint8))
    >>> p.exists(), vw.frames_written
    (True, 3)
    """

    def __init__(self, path: str | os.PathLike, fps: float = 10.0) -> None:
        if not (fps > 0 and np.isfinite(fps)):
            raise VstmError(f"VideoWriter: {path}: fps must be a positive number, got {fps}")
        self.path = Path(path)
        self.fps = float(fps)
        self.frames_written = 0
        self._stack: contextlib.ExitStack | None = None
        self._container = None
        self._stream = None
        self._size: tuple[int, int] | None = None  # (H, W) of the frames as given

    def __enter__(self) -> VideoWriter:
        import av

        stack = contextlib.ExitStack()
        tmp = stack.enter_context(atomic_path(self.path, suffix=".mp4"))
        try:
            self._container = av.open(str(tmp), mode="w", format="mp4")
        except Exception as e:
            stack.__exit__(*sys.exc_info())
            raise VstmError(f"{self.path}: cannot open for video writing ({e})") from e
        self._stack = stack
        return self

    def _open_stream(self, h: int, w: int) -> None:
        import av

        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        rate = Fraction(self.fps).limit_denominator(1001)
        stream = self._container.add_stream(codec, rate=rate)
        stream.width, stream.height = w + w % 2, h + h % 2
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "18", "preset": "medium"}
        else:
            stream.bit_rate = 4_000_000
        self._stream = stream

    def write(self, frame: np.ndarray) -> None:
        """Append one RGB uint8 frame (H, W, 3)."""
        import av

        if self._stack is None:
            raise VstmError(f"VideoWriter: {self.path}: use it as `with VideoWriter(...) as vw:`")
        arr = np.asarray(frame)
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            raise ShapeError(
                f"VideoWriter: {self.path}: expected a uint8 frame of shape (H,W,3), "
                f"got {arr.dtype} {arr.shape}; convert it with to_uint8_image"
            )
        h, w = arr.shape[:2]
        if self._size is None:
            self._size = (h, w)
            self._open_stream(h, w)
        elif self._size != (h, w):
            raise ShapeError(
                f"VideoWriter: {self.path}: frame {self.frames_written} is {h}x{w}, "
                f"the first frame was {self._size[0]}x{self._size[1]}; resize frames to one size"
            )
        if h % 2 or w % 2:
            arr = np.pad(arr, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
        for packet in self._stream.encode(vf.reformat(format="yuv420p")):
            self._container.mux(packet)
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file (same as leaving the ``with`` block without an exception)."""
        self.__exit__(None, None, None)

    def __exit__(self, exc_type, exc, tb) -> bool:
        stack, container = self._stack, self._container
        if stack is None:
            return False
        self._stack = self._container = self._stream = None
        if exc_type is None:
            try:
                if self.frames_written == 0:
                    raise VstmError(f"VideoWriter: {self.path}: no frames written; nothing saved")
                for packet in self._stream_flush(container):
                    container.mux(packet)
                container.close()
            except BaseException:
                with contextlib.suppress(Exception):
                    container.close()
                stack.__exit__(*sys.exc_info())  # deletes the temporary file
                raise
            stack.__exit__(None, None, None)  # renames the temporary file onto path
            return False
        with contextlib.suppress(Exception):
            container.close()
        stack.__exit__(exc_type, exc, tb)
        return False

    @staticmethod
    def _stream_flush(container) -> list:
        streams = container.streams.video
        return list(streams[0].encode(None)) if streams else []


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float = 10.0) -> int:
    """Write RGB uint8 frames (H, W, 3) from a list or iterator to an mp4; see VideoWriter.

    Returns:
        The number of frames written.
    """
    with VideoWriter(path, fps=fps) as vw:
        for frame in frames:
            vw.write(frame)
    return vw.frames_written
