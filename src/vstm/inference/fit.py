"""Does the input fit the model? One-line warnings for ``vstm predict`` and ``vstm eval``.

A model trained on binary Moving MNIST digits turns natural video into a dark blur, and one
trained on colour video at 96x96 does poorly on 640x480 grey frames; neither is an error, but
a user should hear it once, with the shipped model that fits (:func:`input_mismatch`).
"""

from __future__ import annotations

from typing import Any, Literal

from vstm.data.names import is_moving_mnist, is_photo_motion
from vstm.data.video import VIDEO_EXTENSIONS, iter_frames
from vstm.errors import VstmError
from vstm.models import pretrained

__all__ = ["DataKind", "data_kind", "input_mismatch", "peek_source", "seen_size"]

DataKind = Literal["digits", "natural"]
"""What a data set shows: Moving MNIST digits (generated or Srivastava's ``.npy``), or natural
images (real video, frame folders, photo motion)."""

_SIZE_RATIO = 2.0
"""Frames more than this factor larger or smaller than the training frames get a warning."""


def data_kind(data: str | None) -> DataKind:
    """The kind of a ``--data`` value (a name or a path).

    >>> data_kind("moving-mnist"), data_kind("clips/a.mp4"), data_kind("photo-motion")
    ('digits', 'natural', 'natural')
    """
    text = str(data or "moving-mnist")
    if is_photo_motion(text):
        return "natural"
    if is_moving_mnist(text) or text.lower().endswith(".npy"):
        return "digits"
    return "natural"


def _fitting(kind: DataKind) -> str | None:
    """A shipped checkpoint name trained on data of ``kind``."""
    found = [e for e in pretrained.entries() if data_kind(e.dataset) == kind]
    return f"{pretrained.PREFIX}{found[0].key}" if found else None


def input_mismatch(
    header: dict[str, Any],
    input_kind: DataKind,
    *,
    channels: int | None = None,
    frame_size: tuple[int, int] | None = None,
    checkpoint_flag: str = "--checkpoint",
) -> str | None:
    """One line saying how the input differs from the model's training data, or None.

    Args:
        header: the checkpoint header (its ``train_config``: data, size, channels).
        input_kind: what the input shows (:func:`data_kind`).
        channels: the input's own channel count (1 grey, 3 colour), where known.
        frame_size: (H, W) of the frames the model will see, where known.
        checkpoint_flag: the calling command's flag for the checkpoint.
    """
    tc = header.get("train_config") or {}
    trained_kind = data_kind(tc.get("data"))
    model_channels = (header.get("model_config") or {}).get("in_channels")
    problems = []
    if trained_kind != input_kind:
        what = {"digits": "Moving MNIST digits", "natural": "natural video"}
        binary = "binary " if tc.get("binarize") and trained_kind == "digits" else ""
        problems.append(
            f"it was trained on {binary}{what[trained_kind]}, the input is {what[input_kind]}"
        )
    if channels is not None and model_channels is not None and channels != model_channels:
        names = {1: "grey", 3: "colour"}
        problems.append(
            f"the input is {names.get(channels, channels)} and is converted to the model's "
            f"{names.get(model_channels, model_channels)}"
        )
    size = tc.get("size") or (64 if trained_kind == "digits" else None)
    if frame_size is not None and isinstance(size, int):
        ratio = min(frame_size) / size
        if ratio > _SIZE_RATIO or ratio < 1 / _SIZE_RATIO:
            problems.append(
                f"its frames are {frame_size[0]}x{frame_size[1]}, far from the {size}-pixel "
                "frames it was trained on (motion in pixels scales with the size; try --size "
                f"{size})"
            )
    if not problems:
        return None
    model = header.get("model", "the model")
    fit = _fitting(input_kind)
    advice = (
        f"; {checkpoint_flag} {fit} fits this input" if fit and (trained_kind != input_kind) else ""
    )
    return f"{model} may not fit this input: {'; '.join(problems)}{advice}"


def peek_source(path: str) -> tuple[int, tuple[int, int]] | None:
    """(channels, (H, W)) of a video's or frame folder's first frame: 1 where its colour
    channels are equal (grey), else 3; None if it cannot be read (the caller's own reading
    reports why)."""
    from pathlib import Path

    p = Path(path)
    if p.is_dir() and any(f.suffix.lower() in VIDEO_EXTENSIONS for f in p.rglob("*")):
        return None  # a folder of videos: no one first frame speaks for it
    try:
        frame = next(iter(iter_frames(path, channels=3)))  # (3, H, W)
    except (VstmError, StopIteration, OSError, ValueError):
        return None
    grey = bool((frame - frame[:1]).abs().max() <= 1.0 / 255)
    return (1 if grey else 3), (int(frame.shape[1]), int(frame.shape[2]))


def seen_size(native: tuple[int, int], size: int | None) -> tuple[int, int]:
    """(H, W) after resizing the short side of ``native`` to ``size`` (None: unchanged).

    >>> seen_size((480, 640), 96), seen_size((480, 640), None)
    ((96, 128), (480, 640))
    """
    if size is None:
        return native
    h, w = native
    s = size / min(h, w)
    return round(h * s), round(w * s)
