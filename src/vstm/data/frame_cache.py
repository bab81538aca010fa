"""The frame cache: a source's frames decoded once, converted, and kept as one uint8 array
on disk (``--frame-cache``), keyed by the source and the conversion settings."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

try:
    import av
except ImportError:  # pragma: no cover - decoding video needs PyAV; frame folders do not
    av = None
import numpy as np

from vstm.errors import VstmError
from vstm.io import atomic_path

__all__ = [
    "CACHE_ENV",
    "cache_frames",
    "default_cache_dir",
    "frame_cache_dir",
    "make_cache_dir",
]


from vstm.data.sources import (
    _REENCODE,
    Source,
    _av_to_pil,
    _check_options,
    _convert_u8,
    _decode,
    _load_image,
    _open,
    _size_hw,
)

log = logging.getLogger(__name__)


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
