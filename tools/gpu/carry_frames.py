"""Decode videos into folders of PNG frames for a lent-GPU call to carry.

The GPU image has no PyAV (a 36 MB wheel that does not fit in one call beside the work tree
and the data), and vstm reads a folder of frames without it. Each video of SRC becomes
DEST/<name>/NNNNNN.png: every frame, centre-cropped and resized to ``--size`` exactly as
``vstm train --size`` does (the same pixels the decoded-frame cache holds), so a run on DEST
with the same ``--frame-step`` and ``--holdout`` sees the same frames as one on SRC.

    python tools/gpu/carry_frames.py data/opencv-samples .gpu_carry/frames --size 96
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from vstm.data import VIDEO_EXTENSIONS, iter_frames


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src", type=Path, help="a folder of videos")
    p.add_argument("dest", type=Path, help="the folder of frame folders to write")
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--channels", type=int, default=3, choices=(1, 3))
    args = p.parse_args(argv)
    videos = sorted(f for f in args.src.iterdir() if f.suffix.lower() in VIDEO_EXTENSIONS)
    total = 0
    for video in videos:
        folder = args.dest / video.stem
        folder.mkdir(parents=True, exist_ok=True)
        n = 0
        for n, frame in enumerate(iter_frames(video, channels=args.channels, size=args.size)):
            a = (frame.numpy() * 255).round().astype(np.uint8).transpose(1, 2, 0)  # (H, W, C)
            Image.fromarray(a[:, :, 0] if args.channels == 1 else a).save(folder / f"{n:06d}.png")
        size = sum(f.stat().st_size for f in folder.iterdir())
        total += size
        print(f"{video.name}: {n + 1} frames -> {folder} ({size / 1e6:.1f} MB)")
    print(f"{total / 1e6:.1f} MB in {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
