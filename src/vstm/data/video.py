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

import hashlib
import json
import logging
import math
import os
import re
import shutil
import tempfile
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
from torch.utils.data import Dataset

from vstm.errors import VstmError
from vstm.io import atomic_path

__all__ = [
    "CACHE_ENV",
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "Source",
    "VideoClips",
    "cache_frames",
    "default_cache_dir",
    "find_sources",
    "frame_cache_dir",
    "iter_frames",
    "span_frames",
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
_INHERITED: list = []  # containers a forked worker inherited from its parent: kept, untouched
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
    from vstm.io import file_kind

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

CACHE_ENV = "VSTM_CACHE_DIR"
"""Environment variable naming the default decoded-frame cache folder."""
_CACHE_VERSION = 1


def default_cache_dir() -> Path:
    """``$VSTM_CACHE_DIR``, else ``$XDG_CACHE_HOME/vstm/frames`` (``~/.cache/vstm/frames``)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vstm" / "frames"


def make_cache_dir(path: Path) -> None:
    """Create the frame cache folder, or one line that names the cause and the fix: the
    environment variable when it chose the folder, else --frame-cache."""
    env = os.environ.get(CACHE_ENV)
    via = f"${CACHE_ENV}={env}" if env and Path(env) == path else f"--frame-cache {path}"
    fix = (
        f"point ${CACHE_ENV} at a writable folder"
        if via.startswith("$")
        else "name a writable folder"
    )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise VstmError(f"frame cache {path} ({via}) exists and is not a folder; {fix}") from None
    except OSError as e:
        raise VstmError(
            f"frame cache {path} ({via}) cannot be created ({e.strerror}); {fix}"
        ) from e
    if not os.access(path, os.W_OK | os.X_OK):
        raise VstmError(f"frame cache {path} ({via}) is not writable; {fix}")


def frame_cache_dir(value: str | os.PathLike | None) -> Path | None:
    """The folder a ``--frame-cache`` value names: ``"auto"`` -> :func:`default_cache_dir`,
    None, ``""`` or ``"none"`` -> None (decode per clip), anything else -> that folder.

    >>> frame_cache_dir(None) is None, frame_cache_dir("none") is None, str(frame_cache_dir("c"))
    (True, True, 'c')
    """
    if value is None or str(value).lower() in ("", "none"):
        return None
    return default_cache_dir() if str(value) == "auto" else Path(value)


def _cache_key(src: Source, channels: int, hw: tuple[int, int], resize: str) -> str:
    files = src.frames or (src.path,)
    stats = [(f, os.stat(f).st_size, os.stat(f).st_mtime_ns) for f in (files[0], files[-1])]
    blob = json.dumps(
        {
            "v": _CACHE_VERSION,
            "path": str(Path(src.path).resolve()),
            "n": len(files),
            "stats": stats,
            "channels": channels,
            "size": hw,
            "resize": resize,
        }
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _iter_source_u8(
    src: Source, channels: int, hw: tuple[int, int], resize: str
) -> Iterator[np.ndarray]:
    """Every frame of a source, decoded in order, as uint8 (H, W, C)."""
    if not src.is_video:
        for f in src.frames:
            yield _convert_u8(_load_image(f), channels, hw, resize)
        return
    with _open(src.path) as c:
        for _k, frame in _decode(c, src.path):
            yield _convert_u8(_av_to_pil(frame, channels), channels, hw, resize)


def cache_frames(
    src: Source,
    cache_dir: str | os.PathLike,
    *,
    channels: int = 1,
    size: int | tuple[int, int] | None = None,
    resize: str = "crop",
) -> Path:
    """Decode every frame of ``src`` once into a uint8 ``.npy`` (N, H, W, C); return its path.

    The file is named after the source and a hash of its path, size, modification time and
    the conversion (``channels``, ``size``, ``resize``), so a changed video or other settings
    get a new file and an existing one is reused as it is. It is written atomically (a reader
    never sees half a file) and read back memory-mapped. N counts the frames that decoded,
    which can be fewer than the container header promised (a truncated file).
    """
    _check_options(channels, resize, 1)
    hw = _size_hw(size) or (src.height, src.width)
    cache_dir = Path(cache_dir)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(src.path).name)[:60]
    key = _cache_key(src, channels, hw, resize)
    out = cache_dir / f"{stem}-{key}-{channels}x{hw[0]}x{hw[1]}.npy"
    if out.exists():
        return out
    make_cache_dir(cache_dir)
    n = 0
    fd, raw_name = tempfile.mkstemp(prefix=f".{stem}.", suffix=".raw", dir=cache_dir)
    raw = Path(raw_name)
    try:
        with os.fdopen(fd, "wb") as f:
            frames = _iter_source_u8(src, channels, hw, resize)
            while True:
                try:
                    a = next(frames)
                except StopIteration:
                    break
                except VstmError as e:
                    if n == 0 or not src.is_video:
                        raise
                    log.warning("%s; caching the %d frames before it", e, n)
                    break
                if a.shape != (hw[0], hw[1], channels):
                    raise VstmError(
                        f"{src.path}: frame {n} is {a.shape[1]}x{a.shape[0]}, not "
                        f"{hw[1]}x{hw[0]} like the first; pass --size to resize every frame"
                    )
                f.write(a.tobytes())
                n += 1
        if n == 0:
            raise VstmError(f"{src.path}: the video has no frames (empty file?); {_REENCODE}")
        header = {"descr": "|u1", "fortran_order": False, "shape": (n, hw[0], hw[1], channels)}
        with atomic_path(out) as tmp, open(tmp, "wb") as f, open(raw, "rb") as r:
            np.lib.format.write_array_header_1_0(f, header)
            shutil.copyfileobj(r, f, 1 << 24)
    finally:
        raw.unlink(missing_ok=True)
    log.info("cached %d frames of %s: %s (%.1f MB)", n, src.path, out, out.stat().st_size / 1e6)
    return out


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
