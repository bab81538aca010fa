"""Streaming next-frame prediction over any video (``vstm predict``), and the settings that
evaluation and prediction read from a checkpoint's header."""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vstm.data import iter_frames, video_fps
from vstm.errors import VstmError
from vstm.inference.graphed import GraphedStep
from vstm.metrics import flow_to_motion
from vstm.models import VideoPredictor, to_probabilities
from vstm.models.base import check_horizon
from vstm.models.checkpoint import model_outputs
from vstm.system import autocast
from vstm.typecheck import check_value
from vstm.viz import VideoWriter, flow_to_color, image_grid, save_png, to_uint8_image, write_flo

__all__ = ["PredictResult", "inherited_settings", "predict_video"]

log = logging.getLogger("vstm.predict")


@dataclass
class PredictResult:
    video: Path
    frames: int
    """Input frames read (and one-step predictions written)."""
    forecast: int = 0
    """Closed-loop forecast frames written after them (``horizon``)."""
    pngs: list[Path] = field(default_factory=list)
    flos: list[Path] = field(default_factory=list)


def inherited_settings(header: dict[str, Any], path: str) -> dict[str, Any]:
    """The training settings that evaluation and prediction take from a checkpoint's header
    (``data``, ``size``, ``binarize``, ``mnist_dir``, where present), type-checked: a damaged
    header is a one-line error, not a crash deep in the data code."""

    tc = header.get("train_config") or {}
    hints = {"data": str, "size": int | None, "binarize": bool, "mnist_dir": str | None}
    out = {k: check_value(f"checkpoint {path}", k, hints[k], tc[k]) for k in hints if k in tc}
    if out.get("size") is not None and out["size"] < 1:
        raise VstmError(f"checkpoint {path}: size must be positive, got {out['size']}")
    return out


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


class Progress:
    """One log line every ``every`` seconds of a long loop (frames written, rate), so that a
    long video or rollout never runs minutes in silence; silent when the loop is short."""

    def __init__(self, what: str, total: int | None = None, every: float = 10.0) -> None:
        self.what, self.total, self.every = what, total, every
        self.start = self.last = time.monotonic()

    def tick(self, done: int, note: str = "") -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        of = f"/{self.total}" if self.total else ""
        log.info(
            "%s: %d%s frames, %.1f frames/s%s",
            self.what,
            done,
            of,
            rate,
            f" ({note})" if note else "",
        )


def check_writable_dir(out_dir: str | Path, flag: str = "--out") -> Path:
    """Create ``out_dir`` if needed and check a file can be written there, before any work.

    Raises:
        VstmError: naming the folder and the fix, when it cannot be created or written.
    """
    import tempfile

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise VstmError(f"{flag} {out_dir}: is a file, not a folder; choose a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as e:
        raise VstmError(
            f"{flag} {out_dir}: cannot write there ({e.strerror or e}); choose a writable folder"
        ) from e
    return out_dir


def _under(steps, context):
    """Iterate ``steps`` (a generator) with a fresh ``context()`` entered while it computes."""
    it = iter(steps)
    while True:
        with context():
            item = next(it, None)
        if item is None:
            return
        yield item


def _blank(h: int, w: int) -> np.ndarray:
    return np.full((h, w, 3), 255, np.uint8)


def predict_video(
    model: VideoPredictor,
    header: dict[str, Any],
    source: str | Path,
    out_dir: str | Path,
    *,
    size: int | None = None,
    frame_step: int = 1,
    max_frames: int | None = None,
    horizon: int | None = None,
    png: bool = False,
    flo: bool = False,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    cuda_graphs: bool = False,
) -> PredictResult:
    """Run ``model.step`` over every frame of ``source`` and write input | prediction | flow.

    Args:
        source: a video file or a folder of frames.
        size: resize so that the shorter side is ``size`` pixels (None: native size).
        max_frames: read at most this many frames as input.
        horizon: N >= 1 to forecast N frames past the last input frame in closed loop
            (:meth:`VideoPredictor.iter_rollout`: each forecast is fed back as the next input);
            they follow the input frames in the video as truth | forecast +j | flow, where
            truth is the source's next frame if it has one (beyond ``max_frames``), else blank.
            None: no forecast.
        png, flo: also write a PNG strip and a Middlebury ``.flo`` (motion from t to t+1 at
            image resolution, DESIGN section 2) per frame.
        precision: ``"fp32"`` or ``"bf16"``: the model's steps run under bf16 autocast (the
            ConvLSTM state stays float32; outputs are turned back to float32). ``vstm predict``
            passes :func:`vstm.system.choose_precision`'s choice. The step runs as is:
            channels_last and ``torch.inference_mode`` measured no faster than this in fp32
            on an AVX2 CPU.
        cuda_graphs: replay each step from one captured CUDA graph
            (:class:`~vstm.inference.graphed.GraphedStep`; CUDA only, one frame size).

    Memory stays constant, whatever the length or the horizon: frames are decoded,
    predicted and encoded one at a time. Frames whose size is not a multiple of the model's
    ``spatial_multiple`` are zero-padded on the right and bottom, and the outputs cropped back
    (forecasts are fed back at the padded size). Every file goes through a temporary name; on
    an error the video is not written and the PNG/.flo files of this run are removed.
    """

    if horizon is not None:
        horizon = check_horizon(horizon)
    source = Path(source)
    out_dir = check_writable_dir(out_dir)
    result = PredictResult(out_dir / f"{source.stem}_predict.mp4", 0)
    try:
        _predict_video(
            model, header, source, out_dir, result, size, frame_step, max_frames, horizon,
            png, flo, device, precision, cuda_graphs,
        )  # fmt: skip
    except BaseException:
        for p in result.pngs + result.flos:
            p.unlink(missing_ok=True)
        raise
    return result


class _FramePrep:
    """Decoded frames -> model inputs, for one video: each (C, H, W) frame is resized to
    ``size`` on its shorter side (None: kept), then to the first frame's size (the memory holds
    one frame size; a frame folder of mixed sizes is resized, with one warning), then
    zero-padded on the right and bottom to a multiple of ``multiple``."""

    def __init__(
        self, source: Path, size: int | None, multiple: int, device: torch.device | str
    ) -> None:
        self.source, self.size, self.multiple, self.device = source, size, multiple, device
        self.first_hw: list = []  # (H, W) of the first frame; later frames are resized to it

    def __call__(self, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(C, H, W) decoded frame -> (resized (C, h, w), padded batch (1, C, H', W'))."""
        first_hw = self.first_hw
        if self.size is not None:
            frame = _resize_short_side(frame, self.size)
        if not first_hw:
            first_hw.extend(frame.shape[-2:])
        elif list(frame.shape[-2:]) != first_hw:
            # the memory holds one frame size: a frame of another size (a frame folder of
            # mixed sizes) is resized to the first frame's size, with one warning
            if len(first_hw) == 2:
                log.warning(
                    "%s: a frame is %dx%d, not %dx%d like the first; resizing such frames",
                    self.source,
                    frame.shape[-1],
                    frame.shape[-2],
                    first_hw[1],
                    first_hw[0],
                )
                first_hw.append(True)  # warned
            frame = F.interpolate(
                frame[None], size=tuple(first_hw[:2]), mode="bilinear", align_corners=False
            )[0].clamp(0, 1)
        h, w = frame.shape[-2:]
        m = self.multiple
        return frame, F.pad(frame, (0, (-w) % m, 0, (-h) % m)).unsqueeze(0).to(self.device)


class _PanelWriter:
    """Writes the panels of one video: input | prediction | colour of the flow, with column
    titles, every panel padded to the size of the widest title set so that the video keeps
    one size; with ``png`` / ``flo`` also a PNG of each panel and a Middlebury ``.flo`` of
    each motion, recorded in ``result`` (so that an error can remove them)."""

    def __init__(
        self,
        out_dir: Path,
        result: PredictResult,
        title_sets: list[list[str]],
        png: bool,
        flo: bool,
    ) -> None:
        self.out_dir, self.result, self.title_sets = out_dir, result, title_sets
        self.png, self.flo = png, flo
        self.canvas: list[int] = []  # [H, W] of every panel, set at the first frame

    def __call__(
        self, writer, i: int, left: np.ndarray, prob, flow, titles: list[str], width: int
    ) -> None:
        """One panel: left | prob (C, h, w) in [0, 1] | colour of flow (1, 2, H'/s, W'/s);
        ``width``: W', the padded input's width (s = W' // the flow's width)."""
        h, w = prob.shape[-2:]
        canvas = self.canvas
        if not canvas:
            sizes = [image_grid([[_blank(h, w)] * 3], col_titles=t).shape for t in self.title_sets]
            canvas.extend(max(sz[k] for sz in sizes) for k in (0, 1))
        if flow is not None:
            scale = width // flow.shape[-1]
            motion = flow_to_motion(flow.float(), scale=scale)[0, :, :h, :w].cpu()
            colour = flow_to_color(motion)
        else:
            motion, colour = None, _blank(h, w)
        panel = image_grid([[left, to_uint8_image(prob.cpu()), colour]], col_titles=titles)
        ph, pw = canvas[0] - panel.shape[0], canvas[1] - panel.shape[1]
        panel = np.pad(panel, ((0, ph), (0, pw), (0, 0)), constant_values=255)
        writer.write(panel)
        if self.png:
            p = self.out_dir / "frames" / f"{i:06d}.png"
            save_png(p, panel)
            self.result.pngs.append(p)
        if self.flo and motion is not None:
            p = self.out_dir / "flow" / f"{i:06d}.flo"
            write_flo(p, motion.numpy())
            self.result.flos.append(p)


def _title_sets(horizon: int | None) -> list[list[str]]:
    """The column titles of the panels: one-step predictions, then (with a ``horizon``)
    forecasts beside the truth or beside no truth."""
    n = horizon or 0
    title_sets = [
        ["input t", "predicted t+1", "motion t->t+1"],
        [f"truth t+{n}", f"forecast t+{n}", f"motion t+{n - 1}->t+{n}"],
        ["(no truth)", f"forecast t+{n}", f"motion t+{n - 1}->t+{n}"],
    ]
    return title_sets if horizon else title_sets[:1]


def _predict_video(
    model, header, source, out_dir, result, size, frame_step, max_frames, horizon, png, flo, device,
    precision="fp32", cuda_graphs=False,
) -> None:  # fmt: skip
    """The body of :func:`predict_video`; fills ``result`` as it writes."""
    import itertools

    outputs = model_outputs(header)
    fps = video_fps(source) / max(frame_step, 1)
    m = model.spatial_multiple
    state = prev_state = x = None
    model = model.to(device).eval()
    if cuda_graphs:
        graphed = GraphedStep(model, precision)
    frames = iter(iter_frames(source, channels=model.in_channels, frame_step=frame_step))
    prepare = _FramePrep(source, size, m, device)
    # every panel is padded to fit the widest, so the video keeps one size
    write = _PanelWriter(out_dir, result, _title_sets(horizon), png, flo)
    titles = write.title_sets[0]
    progress = Progress("predict", total=max_frames)
    try:
        with torch.no_grad(), VideoWriter(result.video, fps=fps) as writer:
            for i, frame in enumerate(itertools.islice(frames, max_frames)):
                progress.tick(i)
                frame, x = prepare(frame)
                h, w = frame.shape[-2:]
                prev_state = state
                if cuda_graphs:
                    pred, flow, state = graphed(x, state)
                else:
                    with autocast(device, precision):
                        pred, flow, state = model.step(x, state)
                prob = to_probabilities(pred[0, :, :h, :w].float(), outputs)
                write(writer, i, to_uint8_image(frame), prob, flow, titles, x.shape[-1])
                result.frames += 1
            if result.frames == 0:
                raise VstmError(f"{source}: no frames were decoded; check the file plays")
            if horizon is not None:
                # The last input again, from the state before it: the rollout's first forecast is
                # the prediction just written, and every later one is fed back.
                steps = model.iter_rollout(x.unsqueeze(1), horizon, outputs, state=prev_state)
                steps = _under(steps, lambda: autocast(device, precision))
                for j, (prob, flow, _) in enumerate(steps, start=1):
                    truth = next(frames, None)
                    left = _blank(h, w) if truth is None else to_uint8_image(prepare(truth)[0])
                    tt = [f"truth t+{j}" if truth is not None else "(no truth)"]
                    tt += [f"forecast t+{j}", f"motion t+{j - 1}->t+{j}"]
                    k = result.frames + j - 1
                    write(writer, k, left, prob[0, :, :h, :w].float(), flow, tt, x.shape[-1])
                    result.forecast += 1
                    progress.tick(result.frames + j, f"forecast {j}/{horizon}")
    except BaseException:
        # no partial output: the video is written atomically; the per-frame files go too
        for p in (*result.pngs, *result.flos):
            p.unlink(missing_ok=True)
        for d in (out_dir / "frames", out_dir / "flow"):
            with contextlib.suppress(OSError):
                d.rmdir()
        raise
