"""Fixtures: short videos and frame folders of a moving square whose position is known."""

from __future__ import annotations

import av
import numpy as np
import pytest
from PIL import Image

H, W = 48, 64
SQ = 12  # square side
Y0 = 10  # square top row


def square_x(t: int) -> int:
    """Left column of the square in frame t: one pixel right per frame."""
    return 4 + t


def square_frame(t: int) -> np.ndarray:
    """RGB uint8 (H, W, 3): a bright square on a dark background."""
    img = np.full((H, W, 3), 16, np.uint8)
    img[Y0 : Y0 + SQ, square_x(t) : square_x(t) + SQ] = (235, 200, 120)
    return img


def encode_square_video(path, n: int = 30, codec: str = "mpeg4", fps: int = 10) -> None:
    """Encode n frames of the moving square with PyAV (key frame every 8 frames)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.codec_context.gop_size = 8
        if codec == "mpeg4":
            s.options = {"qscale": "2"}
        for t in range(n):
            for p in s.encode(av.VideoFrame.from_ndarray(square_frame(t), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def square_left(frame) -> int:
    """Left column of the bright square in a decoded (C, H, W) frame in [0, 1]."""
    bright = frame.mean(dim=0) > 0.4
    cols = bright.any(dim=0).nonzero()
    return int(cols.min())


@pytest.fixture
def square_video(tmp_path):
    """A 30-frame 10 fps .mp4 (H.264) of the moving square; returns its path."""
    path = tmp_path / "square.mp4"
    encode_square_video(path, codec="libx264")
    return path


@pytest.fixture
def frame_folder(tmp_path):
    """12 PNG frames of the moving square named frame_0.png ... frame_11.png."""
    d = tmp_path / "frames"
    d.mkdir()
    for t in range(12):
        Image.fromarray(square_frame(t)).save(d / f"frame_{t}.png")
    return d


@pytest.fixture
def sq():
    """The helpers above, for test modules (conftest is not importable under importlib mode)."""
    import types

    return types.SimpleNamespace(
        x=square_x, left=square_left, encode=encode_square_video, frame=square_frame, H=H, W=W
    )
