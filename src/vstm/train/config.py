"""Training configuration: defaults -> config file (TOML or YAML) -> command-line flags.

The final values are saved with every run as ``DIR/config.json`` and inside every checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vstm.data.labelled import parse_size
from vstm.data.names import canonical_data, default_loss
from vstm.errors import VstmError
from vstm.io import read_settings_file
from vstm.models import MODELS
from vstm.models.checkpoint import clip_length
from vstm.typecheck import check_value

__all__ = [
    "SEGMENT_DEFAULTS",
    "TINY_MODEL_OPTIONS",
    "TrainConfig",
    "clip_length",
    "load_config_file",
    "make_config",
    "tiny_overrides",
    "tiny_segment_overrides",
]

# (field, lower bound, inclusive): ranges every TrainConfig must satisfy, whether its values
# came from flags (argparse checks them first, naming the flag), a config file or a checkpoint
_RANGES: tuple[tuple[str, float, bool], ...] = (
    ("size", 1, True),
    ("context", 1, True),
    ("batch_size", 1, True),
    ("epochs", 0, True),
    ("steps", 1, True),
    ("epoch_sequences", 1, True),
    ("val_sequences", 0, True),
    ("w_h", 0, True),
    ("delta", 0, False),
    ("lr", 0, True),  # 0: a frozen run (tests use it)
    ("lr_decay", 0, False),
    ("decay_every", 1, True),
    ("warmup_steps", 0, True),
    ("decay_fraction", 0, False),
    ("flow_lr_scale", 0, True),  # 0: a frozen flow regressor
    ("clip", 0, True),
    ("clip_norm", 0, True),
    ("threads", 1, True),
    ("train_sequences", 1, True),
    ("w_recon", 0, True),
    ("seed", 0, True),
    ("workers", 0, True),
    ("save_every", 0, True),
    ("save_minutes", 0, False),
    ("log_every", 1, True),
    ("max_minutes", 0, False),
    ("frame_step", 1, True),
    ("holdout", 0, True),
    ("mix_fraction", 0, True),
    ("sync_every", 0, True),
    ("horizon", 1, True),
    ("ss_steps", 0, True),
)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; the defaults are the paper's recipe (section 4).

    Attributes:
        model: registry name (``vstm info`` lists them).
        model_options: overrides of the model's config dataclass, e.g. ``{"in_channels": 3}``.
        data: ``"moving-mnist"`` or a path (video file, folder of videos or frames, ``.npy``).
        context: frames fed per training sequence; the loss covers each next-frame prediction,
            so a training clip holds ``context + 1`` frames.
        batch_size: the global batch (split evenly over DDP ranks).
        epochs / steps: stop after this many epochs, or after this many optimiser steps if set.
        epoch_sequences: sequences per epoch of the (endless) Moving MNIST generator, and
            on any data the unit of the step schedule's decay (on a finite video set an
            epoch is one pass over its clips, which can be a few steps).
        val_sequences: size of the validation set (held out from training sequences) used to
            choose ``best.safetensors``.
        loss: ``"bce"`` (with logits; the paper's choice for binary Moving MNIST), ``"mse"``,
            or ``"auto"``: bce on moving-mnist, mse on real video (segmentation: bce on
            binarised Moving MNIST only).
        w_h / delta: weight and threshold of the Huber smoothness penalty (eq. 2, 4).
        lr, lr_decay, decay_every: RMSprop learning rate, multiplied by ``lr_decay`` every
            ``decay_every`` x ``epoch_sequences`` training sequences, i.e. every
            ``decay_every`` epochs of Moving MNIST (paper: 1e-4, 0.9, 5).
        schedule: ``"step"`` (the paper's decay above) or ``"cosine"``: from ``lr`` down to
            ``lr / 100`` along half a cosine over the run's total steps (``steps``, or
            ``epochs`` times the steps per epoch: size it to the budget with ``--steps``),
            or ``"wsd"`` (warm-up, stable, decay): ``lr`` until the last ``decay_fraction`` of
            the run, then the same half cosine over those steps. With ``max_minutes`` the
            decay begins when ``1 - decay_fraction`` of the minutes are spent and is sized to
            the rest of them, so a run stopped by its budget ends annealed, not mid-rate.
        warmup_steps: the rate rises linearly from ``lr / warmup_steps`` to ``lr`` over the
            first ``warmup_steps`` steps (0: none), then follows ``schedule``.
        flow_lr_scale: the flow regressor Θ's learning rate as a multiple of ``lr`` (1 = the
            paper's single rate). Θ's first layer sums 64 * 15 * 15 = 14,400 inputs, so an
            optimiser step that moves every weight by about ``lr`` (Adam, RMSprop) can move
            the flow by ~14,400 * lr pixels; a smaller rate for Θ keeps early updates from
            throwing the flow far outside the digits' range.
        task: ``"next-frame"`` (``vstm train``: predict every next frame, eq. 4; the best
            checkpoint has the lowest validation loss) or ``"segmentation"`` (``vstm segment
            train``, paper 5.2: SegNet or SegNet-flow from one labelled frame per clip; the
            best checkpoint has the highest validation class-average accuracy).
        clip: gradients are clipped element-wise to [-clip, clip] before each update (0: off).
        clip_norm: then the gradient's total L2 norm is scaled down to at most ``clip_norm``
            (0: off). ``vstm segment train`` clips this way (5) and not element-wise; a
            config saved by ``vstm segment train`` before the one trainer (it has
            ``seq_len``) said ``clip`` for this norm and loads as ``clip_norm``.
        threads: torch CPU threads (default: torch's choice).
        classes: segmentation on CamVid: the class list file (default ``ROOT/classes.json``
            or CamVid's 11 classes).
        train_sequences: segmentation on Moving MNIST: the size of the fixed labelled
            training set (an epoch is one pass over it).
        w_recon: segmentation (SegNet-flow): weight of the next-frame reconstruction loss
            beside the cross-entropy (the paper adds them: 1).
        class_weighting: segmentation: ``"median-frequency"`` (SegNet's balancing of the
            cross-entropy, from the labelled frames of up to 256 training clips) or ``"none"``.
        init_ae: segmentation (SegNet-flow) only: an ``ae-convlstm-flow`` checkpoint whose
            weights start the flow model at the start of a run.
        precision: ``"auto"`` (the fastest exact-enough path of the machine,
            :func:`vstm.system.choose_precision`), ``"fp32"`` or ``"bf16"`` (autocast; the
            loss and the optimiser stay fp32). A run saves the resolved value, so a resumed
            run keeps it.
        save_every: optimiser steps between checkpoints; 0 = every ``save_minutes`` minutes.
        frame_step: real video only: take every N-th frame of the source.
        frame_cache: real video only: decode every source once into this folder (uint8
            ``.npy`` per source, memory-mapped; ``"auto"``: ``$VSTM_CACHE_DIR`` or
            ``~/.cache/vstm/frames``) instead of seeking and decoding each clip
            (``VideoClips(cache_dir=...)``; docs/results/video_decode.md says when it pays).
        holdout: real video only: leave the last fraction of every video out of training and
            validation (0 = use it all), for testing on held-out frames (``vstm reproduce
            figure6`` tests on exactly that part).
        mix_data: real video only: a generator with exact motion (``photo-motion[:DIR]``)
            whose sequences make up ``mix_fraction`` of the training clips (validation stays
            on the real clips); the run then counts epochs as a generator's
            (``epoch_sequences``).
        mix_fraction: the share of ``mix_data`` clips in training batches, in [0, 1].
        init: a checkpoint (or ``pretrained:NAME/DATASET``) whose weights start a fresh run;
            the optimiser starts anew (pair it with ``warmup_steps``). A warm restart of a
            shipped model, or fine-tuning it on your own video.
        horizon: frames forecast past the context in closed loop during training: a clip holds
            ``context + horizon`` frames; after the ``context`` teacher-forced ones each input
            is the model's own prediction (1: the paper's next-frame training).
        ss_steps: scheduled sampling over the forecast inputs: the chance of feeding the true
            frame instead falls linearly from 1 to 0 over this many steps (0: closed loop from
            the start; ``NextFrameTask.truth_probability``).
        cuda_graph: record the whole training step (forward, backward, clipping, optimiser
            with its rate as a device tensor) once as a CUDA graph and replay it every step
            (:mod:`vstm.train.graphed`); one process, no ``ss_steps``. On a CPU the same step
            runs eagerly (same numbers as without it).
        sync_every: copy the loss to the host (and check it is finite) every this many steps;
            0 (auto): every step on the CPU and under DDP, every 25 on one GPU. A loss that
            is not finite between two copies stops the run at the next one, before any
            checkpoint is written (every save is at a copy).
        decay_fraction: the ``wsd`` schedule's share of the run (steps, or ``max_minutes``)
            spent decaying the rate (default 0.2).
    """

    model: str = "ae-convlstm-flow"
    model_options: dict[str, Any] = field(default_factory=dict)
    data: str = "moving-mnist"
    mnist_dir: str | None = None
    binarize: bool = False
    size: int | str | None = None
    channels: int | None = None
    context: int = 10
    batch_size: int = 16
    epochs: int = 50
    steps: int | None = None
    epoch_sequences: int = 10_000
    val_sequences: int = 256
    loss: Literal["auto", "bce", "mse"] = "auto"
    w_h: float = 1e-2
    delta: float = 1e-3
    optimizer: Literal["rmsprop", "adam"] = "rmsprop"
    lr: float = 1e-4
    lr_decay: float = 0.9
    decay_every: int = 5
    schedule: Literal["step", "cosine", "wsd"] = "step"
    warmup_steps: int = 0
    flow_lr_scale: float = 1.0
    clip: float = 1.0
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    seed: int = 0
    workers: int = 0
    out: str = "runs/default"
    save_every: int = 0
    save_minutes: float = 2.0
    log_every: int = 10
    max_minutes: float | None = None
    frame_step: int = 1
    frame_cache: str | None = None
    holdout: float = 0.0
    task: Literal["next-frame", "segmentation"] = "next-frame"
    clip_norm: float = 0.0
    threads: int | None = None
    classes: str | None = None
    train_sequences: int = 2000
    w_recon: float = 1.0
    class_weighting: Literal["none", "median-frequency"] = "median-frequency"
    init_ae: str | None = None
    mix_data: str | None = None
    mix_fraction: float = 0.5
    init: str | None = None
    sync_every: int = 0
    horizon: int = 1
    ss_steps: int = 0
    cuda_graph: bool = False
    decay_fraction: float = 0.2

    def __post_init__(self) -> None:
        # one spelling per data set: "moving_mnist" trains exactly like "moving-mnist"
        object.__setattr__(self, "data", canonical_data(self.data))
        if isinstance(self.size, str):  # "64" -> 64; "180x240" (segmentation) stays text
            size = parse_size(self.size)
            if isinstance(size, tuple):
                if self.task != "segmentation":
                    raise VstmError(f"config: size {self.size!r}: HxW applies to segmentation")
                size = f"{size[0]}x{size[1]}"
            object.__setattr__(self, "size", size)
        for name, low, inclusive in _RANGES:
            value = getattr(self, name)
            if value is None or isinstance(value, str):
                continue
            ok = (value >= low if inclusive else value > low) and math.isfinite(value)
            if not ok:
                bound = f">= {low}" if inclusive else f"> {low}"
                raise VstmError(f"config: {name} must be {bound}, got {value!r}")
            high = _UPPER.get(name)
            if high is not None and value > high:
                raise VstmError(f"config: {name} must be <= {high}, got {value!r}")

    def resolved_loss(self) -> str:
        return self.loss if self.loss != "auto" else default_loss(self.data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


TINY_MODEL_OPTIONS: dict[str, dict[str, Any]] = {n: e.tiny for n, e in MODELS.items()}
"""Small versions of every registered model (``--tiny``), as the registry states them
(``register(..., tiny=...)``; tests check that none is missing)."""


# sanity caps: values beyond these cannot be meant and would overflow or exhaust memory
_UPPER: dict[str, float] = {
    "decay_fraction": 1.0,
    "size": 16_384,
    "mix_fraction": 1.0,
    "context": 100_000,
    "batch_size": 1_000_000,
    "epochs": 10**9,
    "steps": 10**12,
    "epoch_sequences": 10**12,
    "val_sequences": 10**9,
    "decay_every": 10**9,
    "seed": 2**32 - 1,
    "threads": 4096,
    "train_sequences": 10**9,
    "workers": 1024,
    "save_every": 10**12,
    "log_every": 10**12,
}


def tiny_overrides(model: str = "ae-convlstm-flow") -> dict[str, Any]:
    """A debug preset: a small ``model`` on 32x32 frames, a few steps (used by tests)."""
    if model not in TINY_MODEL_OPTIONS:
        raise VstmError(
            f"--tiny has no preset for model {model!r}; presets: {', '.join(TINY_MODEL_OPTIONS)}"
        )
    return {
        "model_options": dict(TINY_MODEL_OPTIONS[model]),
        "size": 32,
        "context": 3,
        "batch_size": 4,
        "steps": 4,
        "epoch_sequences": 16,
        "val_sequences": 4,
        "log_every": 1,
    }


SEGMENT_DEFAULTS: dict[str, Any] = {
    "task": "segmentation",
    "model": "segnet-flow",
    "binarize": True,
    "context": 3,  # clips of 4 frames, the last labelled
    "train_sequences": 2000,
    "val_sequences": 64,
    "batch_size": 8,
    "steps": 500,
    "optimizer": "adam",
    "lr": 3e-3,
    "lr_decay": 1.0,  # a constant rate
    "clip": 0.0,
    "clip_norm": 5.0,
    "precision": "fp32",
    "save_every": 100,
    "out": "runs/segment",
}
"""The defaults of ``vstm segment train``: a layer under its config file and flags."""


def tiny_segment_overrides() -> dict[str, Any]:
    """A segmentation debug preset (tests): 32x32 clips of 3 frames, a few steps."""
    return {
        "size": 32,
        "context": 2,
        "train_sequences": 8,
        "val_sequences": 4,
        "batch_size": 4,
        "steps": 3,
        "save_every": 2,
        "log_every": 1,
        "threads": 1,
    }


_OLD_SEGMENT_KEYS = {"seq_len": "context", "eval_every": "save_every", "recon_loss": "loss"}
"""Keys of the config ``vstm segment train`` saved before the one trainer (``SegTrainConfig``)
and the keys that replace them."""


def _upgrade_old_segment_config(layer: dict[str, Any]) -> dict[str, Any]:
    """A layer written for (or by) the old ``vstm segment train`` in today's keys.

    Such a layer names ``seq_len``, ``eval_every`` or ``recon_loss``. Its ``seq_len`` (frames
    per clip) becomes ``context = seq_len - 1``, and its ``clip`` meant the gradient's norm:
    it becomes ``clip_norm``, with element-wise clipping off. It trained at a constant rate.
    """
    keys = {k.replace("-", "_") for k in layer}
    if "task" in keys or not keys & set(_OLD_SEGMENT_KEYS):
        return layer
    new: dict[str, Any] = {"task": "segmentation", "lr_decay": 1.0}
    for k, v in layer.items():
        k = k.replace("-", "_")
        if k == "seq_len":
            if not isinstance(v, int) or v < 2:
                raise VstmError(f"config: seq_len must be an integer >= 2, got {v!r}")
            new["context"] = v - 1
        elif k == "clip":
            new["clip"], new["clip_norm"] = 0.0, v
        else:
            new[_OLD_SEGMENT_KEYS.get(k, k)] = v
    return new


def make_config(*layers: dict[str, Any]) -> TrainConfig:
    """Merge dicts of overrides left to right onto the defaults, checking keys and types.

    ``model_options`` merge key by key (``--tiny --model-option lstm_impl=fft`` keeps the
    tiny preset's sizes); every other key is replaced by the last layer that sets it. A layer
    in the keys of the old ``vstm segment train`` (``seq_len``, ``eval_every``,
    ``recon_loss``) is read as that config (see :func:`_upgrade_old_segment_config`).
    """
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    hints = typing.get_type_hints(TrainConfig)
    merged: dict[str, Any] = {}
    for layer in layers:
        layer = _upgrade_old_segment_config(layer)
        for k, v in layer.items():
            k = k.replace("-", "_")
            if k not in fields:
                raise VstmError(
                    f"config: unknown key {k!r}; known keys: {', '.join(sorted(fields))}"
                )
            v = check_value("config", k, hints[k], v)
            if k == "model_options":
                v = {**merged.get("model_options", {}), **v}
            merged[k] = v
    return TrainConfig(**merged)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML (``.toml``) or YAML (``.yaml``/``.yml``) config file into a dict."""
    values = read_settings_file(path, "config file")
    values.pop("path", None)  # a run's config.json records its resolved path there
    return values
