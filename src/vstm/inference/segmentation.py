"""Segmenting a video, a frame folder or labelled Moving MNIST test sequences one frame at a
time, written as an mp4 of input | colour-coded labels (``vstm segment predict``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from vstm.data import build_dataset, iter_frames
from vstm.data.labelled import CAMVID_11, MNIST_DIGITS, LabelSet, load_label_set
from vstm.data.names import is_moving_mnist
from vstm.errors import VstmError
from vstm.models import facts_of
from vstm.viz import VideoWriter, save_png
from vstm.viz.segmentation import label_panels, legend

__all__ = ["SegmentVideoResult", "checkpoint_label_set", "segment_video"]


@dataclass
class SegmentVideoResult:
    video: Path
    frames: int
    """Frames segmented (and written)."""
    legend: Path


def checkpoint_label_set(model: nn.Module, header: dict, checkpoint: str) -> LabelSet:
    """The classes a segmenter checkpoint was trained on: Moving MNIST's digits, its
    ``classes`` file, or the CamVid folder's ``classes.json`` (CamVid's 11 if there is none).

    Raises:
        VstmError: the list does not have as many classes as the model segments.
    """

    tc = header.get("train_config") or {}
    if is_moving_mnist(tc.get("data", "moving-mnist")):
        label_set = MNIST_DIGITS
    elif tc.get("classes"):
        label_set = load_label_set(tc["classes"])
    else:
        cls = Path(tc.get("data", "")) / "classes.json"
        label_set = load_label_set(cls) if cls.is_file() else CAMVID_11
    if label_set.num_classes != model.num_classes:
        raise VstmError(
            f"checkpoint {checkpoint} segments {model.num_classes} classes but its class "
            f"list has {label_set.num_classes}; check the training --classes file"
        )
    return label_set


def _segment_stream(
    model: nn.Module, frames: Iterable[torch.Tensor], device: torch.device | str
) -> Iterator[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
    """Yield (frame (C,H,W), {title: labels (H,W)}) streaming one frame at a time."""
    facts = facts_of(model)
    flow_model = facts is not None and facts.segmenter == "propagated"
    state = None
    with torch.no_grad():
        for f in frames:
            x = f.to(device)[None]  # (1, C, H, W)
            if flow_model:
                _, _, state = model.step(x, state)
                cols = {
                    "SegNet-flow": state.seg[0].argmax(0),
                    "SegNet branch": state.base[0].argmax(0),
                }
            else:
                cols = {"SegNet": model(x)[0].argmax(0)}
            yield f, {k: v.cpu() for k, v in cols.items()}


def segment_video(
    model: nn.Module,
    header: dict,
    source: str,
    out: str | Path,
    label_set: LabelSet,
    *,
    size: int | tuple[int, int] | None = None,
    max_frames: int = 300,
    frame_step: int = 1,
    num: int = 4,
    seq_len: int = 20,
    fps: float = 4.0,
    zoom: int = 2,
    device: torch.device | str = "cpu",
) -> SegmentVideoResult:
    """Write ``out/segmentation.mp4`` (input | labels, and the SegNet branch for SegNet-flow)
    and ``out/legend.png``.

    ``source``: a video file or a folder of frames (at most ``max_frames``, every
    ``frame_step``-th), or ``moving-mnist``: ``num`` labelled test sequences of ``seq_len``
    frames, the truth beside (a model trained on Moving MNIST only).
    """

    tc = header.get("train_config") or {}
    mnist_trained = is_moving_mnist(tc.get("data", "moving-mnist"))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    video = out / "segmentation.mp4"

    n = 0
    with VideoWriter(video, fps=fps) as vw:
        if is_moving_mnist(source):
            if not mnist_trained:
                raise VstmError("this checkpoint was trained on CamVid; give a video as INPUT")
            ds = build_dataset(
                "moving-mnist",
                labels=True,
                split="test",
                seq_len=seq_len,
                num_sequences=num,
                size=size,
                channels=model.in_channels,
                binarize=tc.get("binarize", True),
                mnist_dir=tc.get("mnist_dir"),
                dense=True,
            )
            for i in range(len(ds)):
                it = ds[i]
                for t, (f, cols) in enumerate(_segment_stream(model, it["frames"], device)):
                    cols = {"truth": it["labels"][t], **cols}
                    (panel,) = label_panels(
                        f[None], {k: v[None] for k, v in cols.items()}, label_set, zoom=zoom
                    )
                    vw.write(panel)
                    n += 1
        else:
            frames = iter_frames(
                source, channels=model.in_channels, size=size, frame_step=frame_step
            )
            for f, cols in _segment_stream(model, frames, device):
                (panel,) = label_panels(
                    f[None], {k: v[None] for k, v in cols.items()}, label_set, zoom=zoom
                )
                vw.write(panel)
                n += 1
                if n >= max_frames:
                    break
    save_png(out / "legend.png", legend(label_set))
    return SegmentVideoResult(video, n, out / "legend.png")
