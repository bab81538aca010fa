"""Streaming prediction over any video (``vstm predict``)."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vstm.errors import VstmError
from vstm.models import VideoPredictor

__all__ = ["PredictResult", "model_outputs", "predict_video"]

log = logging.getLogger("vstm.predict")


@dataclass
class PredictResult:
    video: Path
    frames: int
    pngs: list[Path] = field(default_factory=list)
    flos: list[Path] = field(default_factory=list)


def model_outputs(header: dict[str, Any]) -> str:
    """``"logits"`` if the checkpoint's model was trained with BCE, else ``"values"``."""
    from vstm.train.config import make_config

    tc = header.get("train_config")
    if not tc:
        return "logits"
    return "logits" if make_config(tc).resolved_loss() == "bce" else "values"


def _to_prob(pred: torch.Tensor, outputs: str) -> torch.Tensor:
    return torch.sigmoid(pred) if outputs == "logits" else pred.clamp(0, 1)


def _resize_short_side(frame: torch.Tensor, size: int) -> torch.Tensor:
    """(C, H, W) -> (C, H', W') with min(H', W') == size, aspect ratio kept (area filter)."""
    h, w = frame.shape[-2:]
    if min(h, w) == size:
        return frame
    s = size / min(h, w)
    hw = (max(round(h * s), 1), max(round(w * s), 1))
    mode = "area" if s < 1 else "bilinear"
    kw = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(frame[None], size=hw, mode=mode, **kw)[0].clamp(0, 1)


def predict_video(
    model: VideoPredictor,
    header: dict[str, Any],
    source: str | Path,
    out_dir: str | Path,
    *,
    size: int | None = None,
    frame_step: int = 1,
    max_frames: int | None = None,
    png: bool = False,
    flo: bool = False,
    device: torch.device | str = "cpu",
) -> PredictResult:
    """Run ``model.step`` over every frame of ``source`` and write input | prediction | flow.

    Args:
        source: a video file or a folder of frames.
        size: resize so that the shorter side is ``size`` pixels (None: native size).
        png, flo: also write a PNG strip and a Middlebury ``.flo`` (motion from t to t+1 at
            image resolution, DESIGN section 2) per frame.

    Memory stays constant: frames are decoded, predicted and encoded one at a time. Frames
    whose size is not a multiple of the model's ``spatial_multiple`` are zero-padded on the
    right and bottom, and the outputs cropped back.
    """
    from vstm.data import iter_frames, video_fps
    from vstm.metrics import flow_to_motion
    from vstm.viz import VideoWriter, flow_to_color, image_grid, save_png, to_uint8_image, write_flo

    source, out_dir = Path(source), Path(out_dir)
    outputs = model_outputs(header)
    fps = video_fps(source) / max(frame_step, 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    video_path = out_dir / f"{source.stem}_predict.mp4"
    result = PredictResult(video_path, 0)
    m = model.spatial_multiple
    state = None
    model = model.to(device).eval()
    titles = ["input t", "predicted t+1", "motion t->t+1"]
    frames = iter_frames(source, channels=model.in_channels, frame_step=frame_step)
    first_hw: tuple[int, int] | None = None  # (H, W) of the first frame
    warned = False
    try:
        with torch.no_grad(), VideoWriter(video_path, fps=fps) as writer:
            for i, frame in enumerate(frames):
                if max_frames is not None and i >= max_frames:
                    break
                if size is not None:
                    frame = _resize_short_side(frame, size)
                if first_hw is None:
                    first_hw = tuple(frame.shape[-2:])
                elif tuple(frame.shape[-2:]) != first_hw:
                    # the memory holds one frame size: a frame of another size (a frame folder
                    # of mixed sizes) is resized to the first frame's size, with one warning
                    if not warned:
                        log.warning(
                            "%s: frame %d is %dx%d, not %dx%d like the first; resizing such frames",
                            source,
                            i,
                            frame.shape[-1],
                            frame.shape[-2],
                            first_hw[1],
                            first_hw[0],
                        )
                        warned = True
                    frame = F.interpolate(
                        frame[None], size=first_hw, mode="bilinear", align_corners=False
                    )[0].clamp(0, 1)
                h, w = frame.shape[-2:]
                ph, pw = (-h) % m, (-w) % m
                x = F.pad(frame, (0, pw, 0, ph)).unsqueeze(0).to(device)  # (1, C, H', W')
                pred, flow, state = model.step(x, state)
                prob = _to_prob(pred[0, :, :h, :w].float(), outputs).cpu()
                if flow is not None:
                    scale = x.shape[-1] // flow.shape[-1]
                    motion = flow_to_motion(flow.float(), scale=scale)[0, :, :h, :w].cpu()
                    colour = flow_to_color(motion)
                else:
                    motion, colour = None, np.full((h, w, 3), 255, np.uint8)
                panel = image_grid(
                    [[to_uint8_image(frame), to_uint8_image(prob), colour]], col_titles=titles
                )
                writer.write(panel)
                if png:
                    p = out_dir / "frames" / f"{i:06d}.png"
                    save_png(p, panel)
                    result.pngs.append(p)
                if flo and motion is not None:
                    p = out_dir / "flow" / f"{i:06d}.flo"
                    write_flo(p, motion.numpy())
                    result.flos.append(p)
                result.frames += 1
    except BaseException:
        # no partial output: the video is written atomically; the per-frame files go too
        for p in (*result.pngs, *result.flos):
            p.unlink(missing_ok=True)
        for d in (out_dir / "frames", out_dir / "flow"):
            with contextlib.suppress(OSError):
                d.rmdir()
        raise
    if result.frames == 0:
        video_path.unlink(missing_ok=True)
        raise VstmError(f"{source}: no frames were decoded; check the file plays")
    return result
