"""Real video as data: a video file, a folder of videos, or a folder of image frames.

Videos are decoded lazily with PyAV, one clip at a time, so a long file never sits whole in
memory. Every frame goes through the same conversion:

- ``channels``: 1 (grey, the luma plane) or 3 (RGB);
- ``size``: None keeps the source size; an int or (H, W) resizes, keeping the aspect ratio by
  a centred ``"crop"`` (default) or by ``"pad"`` ding with black;
- values become float32 in [0, 1], shape (C, H, W).

Sources (:func:`find_sources`): a path to a video file is one source; a folder is searched
recursively for video files (by extension: :data:`VIDEO_EXTENSIONS`) and for folders holding
image frames (:data:`IMAGE_EXTENSIONS`, in natural order: ``frame2`` before ``frame10``); each
is one source. A frame folder plays at 10 frames per second unless told otherwise.

:class:`VideoClips` cuts sources into clips of ``seq_len`` frames, taking every
``frame_step``-th frame, one clip every ``stride`` (subsampled) frames. It works with
``torch.utils.data.DataLoader`` and any number of workers: it holds only paths and integers;
each worker opens its own PyAV container on first use, and a container never crosses a
pickle. :func:`iter_frames` streams every frame of one source (``vstm predict``).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

try:
    import av
except ImportError:  # pragma: no cover - decoding video needs PyAV; frame folders do not
    av = None
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from vstm.errors import VstmError

__all__ = [
    "CACHE_ENV",
    "FRAME_FOLDER_FPS",
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "Source",
    "VideoClips",
    "cache_frames",
    "default_cache_dir",
    "find_sources",
    "frame_cache_dir",
    "iter_frames",
    "make_cache_dir",
    "span_frames",
    "to_8bit",
    "video_fps",
]


from vstm.data.frame_cache import (
    CACHE_ENV,
    cache_frames,
    default_cache_dir,
    frame_cache_dir,
    make_cache_dir,
)
from vstm.data.sources import (
    _REENCODE,
    FRAME_FOLDER_FPS,
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    Source,
    _av_to_pil,
    _check_options,
    _convert,
    _decode,
    _frame_index,
    _load_image,
    _open,
    _size_hw,
    _u8_to_float,
    find_sources,
    iter_frames,
    to_8bit,
    video_fps,
)

log = logging.getLogger(__name__)

_INHERITED: list = []  # containers a forked worker inherited from its parent: kept, untouched


def _check_span(span: Sequence[float]) -> tuple[float, float]:
    a, b = (float(x) for x in span)
    if not 0.0 <= a < b <= 1.0:
        raise VstmError(f"span must satisfy 0 <= start < end <= 1, got ({a:g}, {b:g})")
    return a, b


def span_frames(num_frames: int, span: tuple[float, float]) -> tuple[int, int]:
    """The source frames ``[lo, hi)`` of a span (a, b) of a source of ``num_frames`` frames.

    ``lo = floor(a * N)``, ``hi = floor(b * N)``: spans that meet at a fraction split the
    frames at the same place, so they never share one.

    >>> span_frames(795, (0.0, 0.8)), span_frames(795, (0.8, 1.0))
    ((0, 636), (636, 795))
    """
    a, b = _check_span(span)
    return math.floor(a * num_frames + 1e-9), math.floor(b * num_frames + 1e-9)


class VideoClips(Dataset):
    """Clips of ``seq_len`` frames from a video file, a folder of videos, or frame folders.

    Args:
        path: a video file, or a folder searched recursively (see :func:`find_sources`).
        seq_len: frames per clip T.
        stride: clips start every ``stride`` subsampled frames (default ``seq_len``: clips
            do not overlap).
        frame_step: take every ``frame_step``-th frame of the source.
        channels: 1 (grey) or 3 (RGB).
        size: None (source size; all sources must then share one size), an int, or (H, W).
        resize: "crop" or "pad" to keep the aspect ratio when resizing.
        strict: a bad or too-short video in a folder raises instead of being skipped with a
            warning.
        num_clips: keep at most this many clips, evenly spread over all clips.
        cache_dir: decode every source once, up front, into a uint8 ``.npy`` per source in
            this folder (:func:`cache_frames`; reused while the source and the conversion
            stay the same) and read clips from it memory-mapped, instead of seeking and
            decoding each clip. Worth it where decoding is slower than training (random
            access into a long-GOP video decodes everything from the previous key frame:
            docs/results/video_decode.md). ``cache_bytes`` reports the files' total size.
            Clips past the last frame that actually decoded are dropped with a warning.
        span: (a, b), fractions of each source: clips lie wholly inside its frames
            ``floor(a * N) .. floor(b * N) - 1`` (:func:`span_frames`). Spans that do not
            overlap, such as (0, 0.8) and (0.8, 1), share no frame: a held-out split of the
            last part of every video.
        short_hint: the advice, naming the caller's own flags, when a source is too short.

    Items: ``{"frames": float32 (T, C, H, W) in [0, 1]}``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        seq_len: int = 20,
        stride: int | None = None,
        frame_step: int = 1,
        channels: int = 1,
        size: int | tuple[int, int] | None = None,
        resize: str = "crop",
        strict: bool = False,
        num_clips: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        span: tuple[float, float] = (0.0, 1.0),
        short_hint: str | None = None,
    ) -> None:
        _check_options(channels, resize, frame_step)
        self.span = _check_span(span)
        short_hint = short_hint or "use a smaller --context or a smaller --frame-step"
        if seq_len < 1:
            raise VstmError(f"seq_len must be at least 1, got {seq_len}")
        stride = seq_len if stride is None else int(stride)
        if stride < 1:
            raise VstmError(f"stride must be at least 1, got {stride}")
        self.root = str(path)
        self.seq_len, self.stride, self.frame_step = int(seq_len), stride, int(frame_step)
        self.channels, self.size, self.resize = int(channels), _size_hw(size), resize
        sources = find_sources(path, strict=strict)
        kept: list[Source] = []
        clip_source: list[np.ndarray] = []
        clip_start: list[np.ndarray] = []
        for src in sources:
            lo, hi = span_frames(src.num_frames, self.span)
            n_sub = (hi - lo - 1) // self.frame_step + 1 if hi > lo else 0  # after subsampling
            n_clips = (n_sub - self.seq_len) // self.stride + 1 if n_sub >= self.seq_len else 0
            if n_clips <= 0:
                where = (
                    f"has {src.num_frames} frames"
                    if (lo, hi) == (0, src.num_frames)
                    else f"has {hi - lo} frames in span {self.span[0]:g}-{self.span[1]:g} "
                    f"(frames {lo}-{hi - 1} of {src.num_frames})"
                )
                msg = (
                    f"{src.path}: {where} ({n_sub} with frame_step "
                    f"{self.frame_step}), fewer than one clip of {self.seq_len}; {short_hint}"
                )
                if len(sources) == 1 or strict:
                    raise VstmError(msg)
                log.warning("skipping %s", msg)
                continue
            clip_source.append(np.full(n_clips, len(kept), dtype=np.int64))
            starts = lo + np.arange(n_clips, dtype=np.int64) * self.stride * self.frame_step
            clip_start.append(starts)
            kept.append(src)
        if not kept:
            raise VstmError(
                f"{path}: no video is long enough for one clip of {self.seq_len} frames "
                f"(frame_step {self.frame_step}); {short_hint}"
            )
        if self.size is None and len({(s.height, s.width) for s in kept}) > 1:
            a = kept[0]
            b = next(s for s in kept if (s.height, s.width) != (a.height, a.width))
            raise VstmError(
                f"{path}: sources differ in frame size ({a.path}: {a.width}x{a.height}, "
                f"{b.path}: {b.width}x{b.height}); pass --size to resize them to one size"
            )
        self.sources = kept
        self.clip_source = np.concatenate(clip_source)
        self.clip_start = np.concatenate(clip_start)  # first frame, in source frame numbers
        self.cache_files: tuple[str, ...] = ()
        self.cache_bytes = 0
        if cache_dir is not None:
            self._build_cache(Path(cache_dir))
        if num_clips is not None and num_clips < len(self.clip_source):
            keep = np.linspace(0, len(self.clip_source) - 1, max(int(num_clips), 0))
            keep = np.unique(np.round(keep).astype(np.int64))
            self.clip_source, self.clip_start = self.clip_source[keep], self.clip_start[keep]
        self._container: tuple[int, str, av.container.InputContainer] | None = None
        self._maps: dict[int, np.ndarray] = {}

    def _build_cache(self, cache_dir: Path) -> None:
        """Decode every source into ``cache_dir`` and drop clips past a source's real end."""
        files, lengths = [], []
        for src in self.sources:
            f = cache_frames(
                src, cache_dir, channels=self.channels, size=self.size, resize=self.resize
            )
            files.append(str(f))
            lengths.append(int(np.load(f, mmap_mode="r").shape[0]))
        last = self.clip_start + (self.seq_len - 1) * self.frame_step
        ok = last < np.asarray(lengths, dtype=np.int64)[self.clip_source]
        for k in np.unique(self.clip_source[~ok]):
            src = self.sources[int(k)]
            log.warning(
                "%s: only %d of the %d frames its header promised decode; dropping %d clip(s) "
                "past the end (%s)",
                src.path,
                lengths[int(k)],
                src.num_frames,
                int((self.clip_source[~ok] == k).sum()),
                _REENCODE,
            )
        if not ok.any():
            raise VstmError(
                f"{self.root}: no clip of {self.seq_len} frames fits in the frames that "
                f"actually decode; {_REENCODE}"
            )
        self.clip_source, self.clip_start = self.clip_source[ok], self.clip_start[ok]
        self.cache_files = tuple(files)
        self.cache_bytes = sum(os.path.getsize(f) for f in files)
        log.info(
            "frame cache %s: %d file(s), %.1f MB", cache_dir, len(files), self.cache_bytes / 1e6
        )

    def __len__(self) -> int:
        return len(self.clip_source)

    def __repr__(self) -> str:
        return (
            f"VideoClips({self.root!r}, sources={len(self.sources)}, clips={len(self)}, "
            f"seq_len={self.seq_len}, stride={self.stride}, frame_step={self.frame_step}"
            + (f", span=({self.span[0]:g}, {self.span[1]:g})" if self.span != (0.0, 1.0) else "")
            + (f", cache={self.cache_bytes / 1e6:.1f} MB)" if self.cache_files else ")")
        )

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_container"] = None  # PyAV objects never cross a pickle
        state["_maps"] = {}  # memory maps are reopened in each process
        return state

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"clip {i} out of range for {len(self)} clips")
        k = int(self.clip_source[i])
        src = self.sources[k]
        start = int(self.clip_start[i])
        if self.cache_files:
            arr = self._maps.get(k)
            if arr is None:
                arr = self._maps[k] = np.load(self.cache_files[k], mmap_mode="r")
            last = start + (self.seq_len - 1) * self.frame_step
            return {"frames": _u8_to_float(arr[start : last + 1 : self.frame_step])}
        if src.is_video:
            imgs = self._read_video(src, start)
        else:
            last = start + (self.seq_len - 1) * self.frame_step
            imgs = [_load_image(f) for f in src.frames[start : last + 1 : self.frame_step]]
        frames = [_convert(im, self.channels, self.size, self.resize) for im in imgs]
        shapes = {tuple(f.shape) for f in frames}
        if len(shapes) > 1:
            raise VstmError(
                f"{src.path}: frames differ in size {sorted(shapes)}; pass --size to resize"
            )
        return {"frames": torch.stack(frames)}  # (T, C, H, W)

    def _get_container(self, path: str, fresh: bool = False) -> av.container.InputContainer:
        # One open container per process (each DataLoader worker opens its own); ``fresh``
        # reopens it so that decoding starts at the first frame without seeking.
        pid = os.getpid()
        cached = self._container
        if cached is not None and cached[0] == pid and cached[1] == path and not fresh:
            return cached[2]
        if cached is not None:
            if cached[0] == pid:
                cached[2].close()
            else:  # inherited through fork: the parent's; never close or free it here
                _INHERITED.append(cached[2])
        self._container = None
        c = _open(path)
        self._container = (pid, path, c)
        return c

    def _read_video(self, src: Source, start: int) -> list[Image.Image]:
        """Frames start, start+step, ... (seq_len of them) of a video, as PIL images.

        Seeks to the key frame before ``start`` and finds ``start`` by timestamp (constant
        frame rate); if the frames carry no timestamps or the seek lands past ``start``, it
        decodes from the first frame instead, counting frames.
        """
        out = None
        if start > 0:
            c = self._get_container(src.path)
            s = c.streams.video[0]
            rate = s.average_rate or s.guessed_rate
            if rate and s.time_base is not None:
                pts = math.floor(start / rate / s.time_base) + (s.start_time or 0)
                try:
                    c.seek(max(int(pts) - 1, 0), stream=s, backward=True, any_frame=False)
                except av.FFmpegError:
                    pass  # not seekable: decode from the top below
                else:
                    out = self._collect(c, src.path, start, by_timestamp=True)
        if out is None:
            c = self._get_container(src.path, fresh=True)
            out = self._collect(c, src.path, start, by_timestamp=False)
        if out is None or len(out) < self.seq_len:
            got = 0 if out is None else len(out)
            raise VstmError(
                f"{src.path}: the video ended after {got} of the {self.seq_len} frames of the "
                f"clip starting at frame {start} (the header promised {src.num_frames}); "
                f"the file is truncated: {_REENCODE}"
            )
        return out

    def _collect(
        self, c: av.container.InputContainer, path: str, start: int, by_timestamp: bool
    ) -> list[Image.Image] | None:
        """Decode from the container's position; None where the start frame cannot be found."""
        s = c.streams.video[0]
        out: list[Image.Image] = []
        first: int | None = None
        for k, frame in _decode(c, path, by_timestamp):
            if first is None:
                idx = _frame_index(frame, s) if by_timestamp else k
                if idx is None or idx > start:
                    return None  # no timestamps, or the seek landed past the clip
                if idx < start:
                    continue
                first = k
            if (k - first) % self.frame_step == 0:
                out.append(_av_to_pil(frame, self.channels))
                if len(out) == self.seq_len:
                    break
        return out
