"""Where real frames come from: finding sources (video files, frame folders), probing them,
decoding them with PyAV, and converting every frame the same way (:mod:`vstm.data.video`
describes the conversion; :class:`vstm.data.video.VideoClips` cuts clips from them)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

try:
    import av
except ImportError:  # pragma: no cover - decoding video needs PyAV; frame folders do not
    av = None
import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from vstm.errors import VstmError
from vstm.io import file_kind

__all__ = [
    "FRAME_FOLDER_FPS",
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "Source",
    "find_sources",
    "iter_frames",
    "to_8bit",
    "video_fps",
]


log = logging.getLogger(__name__)


VIDEO_EXTENSIONS = frozenset(
    [
        ".mp4",
        ".m4v",
        ".mov",
        ".avi",
        ".mkv",
        ".webm",
        ".mpg",
        ".mpeg",
        ".wmv",
        ".flv",
        ".ogv",
        ".3gp",
        ".ts",
        ".mts",
        ".gif",
    ]
)
IMAGE_EXTENSIONS = frozenset(
    [".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"]
)
FRAME_FOLDER_FPS = 10.0
"""Frame rate assumed for a folder of image frames."""

_RESIZE_MODES = ("crop", "pad")
_REENCODE = "re-encode it (e.g. ffmpeg -i IN -c:v libx264 OUT.mp4) or remove it"


def _natural_key(p: Path | str) -> list:
    """Sort key: ``frame2`` before ``frame10`` (text parts at even, numbers at odd places)."""
    name = p if isinstance(p, str) else p.name
    return [int(s) if s.isdigit() else s.lower() for s in re.split(r"(\d+)", name)]


def _path_key(p: Path, root: Path) -> list:
    return [_natural_key(part) for part in p.relative_to(root).parts]


@dataclass(frozen=True)
class Source:
    """One video file or one folder of frames: paths and integers only (picklable)."""

    path: str  # the video file, or the frame folder
    num_frames: int
    height: int
    width: int
    frames: tuple[str, ...] = ()  # image files of a frame folder, in order; empty for a video

    @property
    def is_video(self) -> bool:
        return not self.frames


# --- frame conversion --------------------------------------------------------------------


def _size_hw(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int):
        h = w = size
    else:
        h, w = (int(s) for s in size)
    if h < 1 or w < 1:
        raise VstmError(f"frame size must be positive, got {size}")
    return h, w


def _check_options(channels: int, resize: str, frame_step: int) -> None:
    if channels not in (1, 3):
        raise VstmError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    if resize not in _RESIZE_MODES:
        raise VstmError(f"resize must be 'crop' or 'pad', got {resize!r}")
    if frame_step < 1:
        raise VstmError(f"frame_step must be at least 1, got {frame_step}")


def _convert_u8(
    img: Image.Image, channels: int, size: tuple[int, int] | None, resize: str
) -> np.ndarray:
    """A PIL image to uint8 (H, W, C), resized keeping the aspect ratio."""
    img = to_8bit(img).convert("L" if channels == 1 else "RGB")
    if size is not None and (img.height, img.width) != size:
        wh = (size[1], size[0])
        if resize == "crop":
            img = ImageOps.fit(img, wh, method=Image.Resampling.BILINEAR)
        else:
            img = ImageOps.pad(img, wh, method=Image.Resampling.BILINEAR, color=0)
    a = np.asarray(img, dtype=np.uint8)
    return a[:, :, None] if channels == 1 else a


_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def to_8bit(img: Image.Image) -> Image.Image:
    """An image of more than 8 bits per sample scaled to 8 bits by its type (PIL would clip).

    16-bit modes (``I;16*``, and ``I``, which PIL gives 16-bit PNGs) map 0..65535 to 0..255;
    float images (``F``) must hold values in [0, 1] and map to 0..255. Anything outside those
    ranges is refused with one line: it cannot be read as intended without guessing.

    >>> from PIL import Image
    >>> import numpy as np
    >>> im = Image.fromarray(np.array([[0, 32768, 65535]], dtype=np.uint16))
    >>> np.asarray(to_8bit(im)).tolist()
    [[0, 128, 255]]
    """
    if img.mode in _SIXTEEN_BIT:
        a = np.asarray(img).astype(np.int64)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise VstmError(
                f"a {img.mode} image holds values {a.min()}..{a.max()}, outside 16-bit 0..65535; "
                "save the frames as 8- or 16-bit images"
            )
        return Image.fromarray(np.round(a / 257.0).astype(np.uint8), "L")
    if img.mode == "F":
        a = np.asarray(img, dtype=np.float64)
        if a.size and (not np.isfinite(a).all() or a.min() < 0 or a.max() > 1):
            raise VstmError(
                f"a float image holds values {np.nanmin(a):g}..{np.nanmax(a):g}, outside [0, 1]; "
                "scale the frames to [0, 1] or save them as 8- or 16-bit images"
            )
        return Image.fromarray(np.round(a * 255.0).astype(np.uint8), "L")
    return img


def _u8_to_float(a: np.ndarray) -> torch.Tensor:
    """uint8 (..., H, W, C) -> float32 (..., C, H, W) in [0, 1] (a copy)."""
    t = torch.from_numpy(np.array(a, dtype=np.uint8, copy=True)).float().div_(255.0)
    return t.movedim(-1, -3).contiguous()


def _convert(
    img: Image.Image, channels: int, size: tuple[int, int] | None, resize: str
) -> torch.Tensor:
    """A PIL image to float32 (C, H, W) in [0, 1], resized keeping the aspect ratio."""
    return _u8_to_float(_convert_u8(img, channels, size, resize))


def _av_to_pil(frame: av.VideoFrame, channels: int) -> Image.Image:
    if channels == 1:
        return Image.fromarray(frame.to_ndarray(format="gray"), "L")
    return frame.to_image()  # RGB


def _load_image(path: str) -> Image.Image:
    try:
        with Image.open(path) as im:
            im.load()
            return im
    except FileNotFoundError as e:
        raise VstmError(f"{path}: frame file disappeared; check the frame folder") from e
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise VstmError(
            f"{path}: frame failed to decode ({e}); replace or remove this image"
        ) from e


# --- probing -----------------------------------------------------------------------------


def _kind_of(path: str) -> str | None:
    """What a file that is not a video is, from its first bytes (None: unrecognised)."""

    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return None
    if head[8:9] == b"{" and len(head) >= 16:
        return "a safetensors file (a checkpoint?)"
    return file_kind(head, path)


def _open(path: str) -> av.container.InputContainer:
    if av is None:  # pragma: no cover - PyAV is a dependency; a bare GPU image may lack it
        raise VstmError(f"{path}: decoding video needs PyAV (pip install av); frame folders do not")
    try:
        c = av.open(path, mode="r")
    except av.FFmpegError as e:
        kind = _kind_of(path)
        if kind is not None and "video" not in kind:  # a damaged video keeps the advice below
            raise VstmError(
                f"{path} is {kind}, not a video; give a video file or a folder of frames"
            ) from e
        raise VstmError(
            f"{path}: not a video PyAV can read (empty, truncated or another kind of file: "
            f"{e.strerror or e}); {_REENCODE}"
        ) from e
    if not c.streams.video:
        c.close()
        raise VstmError(
            f"{path}: has no video stream; give a video file or a folder of frames instead"
        )
    # One decoding thread: a decoder's thread pool does not survive fork(), and freeing a
    # context with one in a forked DataLoader worker (e.g. by its garbage collector) hangs.
    # Data loading gets its parallelism from the workers instead.
    c.streams.video[0].thread_count = 1
    return c


def _probe_video(path: str) -> Source:
    with _open(path) as c:
        s = c.streams.video[0]
        n = int(s.frames or 0)
        if n <= 0:  # no count in the container header: count the packets (no decoding)
            try:
                n = sum(1 for p in c.demux(s) if p.size)
            except av.FFmpegError as e:
                raise VstmError(
                    f"{path}: cannot be read to the end ({e.strerror or e}); {_REENCODE}"
                ) from e
        cc = s.codec_context  # None when the stream's codec is unknown (a damaged header)
        h, w = (cc.height, cc.width) if cc is not None else (0, 0)
    if n <= 0:
        raise VstmError(f"{path}: the video has no frames (empty file?); {_REENCODE}")
    if not h or not w:
        raise VstmError(f"{path}: the video stream has no frame size; {_REENCODE}")
    return Source(path, n, h, w)


def _probe_frames(folder: Path, files: list[Path]) -> Source:
    first = _load_image(str(files[0]))
    return Source(str(folder), len(files), first.height, first.width, tuple(map(str, files)))


def find_sources(path: str | os.PathLike, *, strict: bool = False) -> list[Source]:
    """The sources under ``path``: a video file, or every video and frame folder in a folder.

    A file in a folder that cannot be read is skipped with a logged warning naming it, or
    raises when ``strict``. A missing path, an unreadable single file, or a folder with
    nothing usable raises :class:`VstmError`.
    """
    root = Path(path)
    if not root.exists():
        raise VstmError(f"{root}: no such file or folder; check --data")
    if root.is_file():
        if root.suffix.lower() in IMAGE_EXTENSIONS:
            raise VstmError(
                f"{root}: a single image is not a video; give the folder of frames instead"
            )
        return [_probe_video(str(root))]
    videos: list[Path] = []
    frame_dirs: dict[Path, list[Path]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        d = Path(dirpath)
        for name in filenames:
            if name.startswith("."):
                continue
            ext = os.path.splitext(name)[1].lower()
            if ext in VIDEO_EXTENSIONS:
                videos.append(d / name)
            elif ext in IMAGE_EXTENSIONS:
                frame_dirs.setdefault(d, []).append(d / name)
    sources: list[Source] = []
    for f in sorted(videos, key=lambda p: _path_key(p, root)):
        try:
            sources.append(_probe_video(str(f)))
        except VstmError as e:
            if strict:
                raise
            log.warning("skipping %s", e)
    for d in sorted(frame_dirs, key=lambda p: _path_key(p, root)):
        sources.append(_probe_frames(d, sorted(frame_dirs[d], key=_natural_key)))
    if not sources:
        what = "readable videos" if videos else "videos or image frames"
        raise VstmError(
            f"{root}: no {what} in this folder (looked recursively for "
            f"{', '.join(sorted(VIDEO_EXTENSIONS))} and images); check --data"
        )
    return sources


def video_fps(path: str | os.PathLike) -> float:
    """Frames per second of a video file; :data:`FRAME_FOLDER_FPS` (10.0) for a frame folder."""
    p = Path(path)
    if not p.exists():
        raise VstmError(f"{p}: no such file or folder; check the path")
    if p.is_dir():
        return FRAME_FOLDER_FPS
    with _open(str(p)) as c:
        s = c.streams.video[0]
        rate = s.average_rate or s.guessed_rate or s.base_rate
    return float(rate) if rate else FRAME_FOLDER_FPS


# --- decoding ----------------------------------------------------------------------------


def _decode(c: av.container.InputContainer, path: str, by_timestamp: bool = False) -> Iterator:
    """Yield (k, frame) of the first video stream, k = 0, 1, ... in decoding order.

    A decoder error raises :class:`VstmError` naming the file and the frame: its number
    counted from the start when decoding from the start, else the one after the last good
    frame's timestamp.
    """
    s = c.streams.video[0]
    it = c.decode(s)
    k = 0
    last: int | None = None if by_timestamp else -1  # stream index of the last good frame
    while True:
        try:
            frame = next(it)
        except StopIteration:
            return
        except av.FFmpegError as e:
            where = f"frame {last + 1}" if last is not None else "the first frame after a seek"
            raise VstmError(
                f"{path}: {where} failed to decode ({e.strerror or e}); {_REENCODE}"
            ) from e
        last = _frame_index(frame, s) if by_timestamp else k
        yield k, frame
        k += 1


def _frame_index(frame: av.VideoFrame, s) -> int | None:
    """The frame's index in the stream from its timestamp (constant frame rate), or None."""
    rate = s.average_rate or s.guessed_rate
    if frame.pts is None or not rate or s.time_base is None:
        return None
    t = (frame.pts - (s.start_time or 0)) * s.time_base
    return round(float(t * rate))


def iter_frames(
    path: str | os.PathLike,
    *,
    channels: int = 1,
    size: int | tuple[int, int] | None = None,
    frame_step: int = 1,
    resize: str = "crop",
) -> Iterator[torch.Tensor]:
    """Stream the frames of a video file or frame folder, one (C, H, W) float32 in [0, 1].

    Every ``frame_step``-th frame, starting with the first; decoded as it goes, so any length
    of video streams in constant memory.
    """
    _check_options(channels, resize, frame_step)
    hw = _size_hw(size)
    p = Path(path)
    if not p.exists():
        raise VstmError(f"{p}: no such file or folder; check the path")
    if p.is_dir():
        files = sorted(
            (f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS), key=_natural_key
        )
        if not files:
            raise VstmError(f"{p}: no image frames in this folder; point at a video or frames")
        for f in files[::frame_step]:
            yield _convert(_load_image(str(f)), channels, hw, resize)
        return
    with _open(str(p)) as c:
        n = 0
        for k, frame in _decode(c, str(p)):
            if k % frame_step == 0:
                n += 1
                yield _convert(_av_to_pil(frame, channels), channels, hw, resize)
    if n == 0:
        raise VstmError(f"{p}: the video has no frames (empty file?); {_REENCODE}")


# --- decoded-frame cache -----------------------------------------------------------------
