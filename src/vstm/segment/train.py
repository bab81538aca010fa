"""Training of the per-frame SegNet and of SegNet-flow under the same labels.

One run: a model, a fixed set of training clips (one labelled frame each), Adam, a step
budget (and optionally a wall-clock budget), a validation score every ``eval_every`` steps.
Leaves in ``out``: ``config.json`` (the final settings), ``metrics.jsonl`` (train and
validation rows), ``last.safetensors`` and ``best.safetensors`` (best validation class-average
accuracy), each with its readable ``.json`` header (:mod:`vstm.train.checkpoint`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from vstm.data.names import BUILTIN_DATA, canonical_data
from vstm.errors import VstmError
from vstm.io import atomic_write_text
from vstm.models.ae_convlstm_flow import SETTING_FIELDS
from vstm.models.segnet import SegNet, SegNetConfig
from vstm.models.segnet_flow import SegNetFlow, SegNetFlowConfig
from vstm.segment.data import build_seg_dataset, label_set_of
from vstm.segment.metrics import confusion_matrix, scores_from_confusion
from vstm.segment.task import SegmentationTask, median_frequency_weights
from vstm.train.checkpoint import load_model_weights, read_checkpoint, save_checkpoint
from vstm.train.loop import param_groups
from vstm.typecheck import check_value

__all__ = [
    "SEGMENTERS",
    "SegTrainConfig",
    "build_segmenter",
    "init_flow_model",
    "load_segmenter",
    "make_seg_config",
    "parse_size",
    "tiny_seg_overrides",
    "train_segmenter",
]

log = logging.getLogger("vstm.segment")

SEGMENTERS: dict[str, tuple[type, type]] = {
    "segnet": (SegNet, SegNetConfig),
    "segnet-flow": (SegNetFlow, SegNetFlowConfig),
}
"""The two segmenters of Table 2: name -> (module, config dataclass)."""


@dataclass(frozen=True)
class SegTrainConfig:
    """Settings of ``vstm segment train``.

    Attributes:
        model: ``segnet`` (per-frame baseline) or ``segnet-flow``.
        model_options: overrides of the model's config (:class:`SegNetConfig` /
            :class:`SegNetFlowConfig`), e.g. ``{"seg_width": 8}``.
        data: ``moving-mnist`` (labelled Moving MNIST) or a CamVid root folder.
        classes: CamVid class list file (default: ``ROOT/classes.json`` or CamVid's 11).
        size: frame size, ``"64"`` or ``"HxW"`` (CamVid, e.g. ``"180x240"``, the paper's).
        channels: 1 or 3 (default: 1 for Moving MNIST, 3 for CamVid).
        seq_len: frames per clip; the labelled frame is the last.
        frame_step: CamVid: take every N-th video frame.
        train_sequences: Moving MNIST: size of the fixed labelled training set.
        val_sequences: validation clips (Moving MNIST: a separate seed; CamVid: the val
            split if it exists, else none).
        recon_loss: SegNet-flow's reconstruction loss: ``auto`` (bce on binary Moving MNIST,
            else mse), ``bce`` or ``mse``.
        w_recon, w_h, delta: loss weights (segmentation CE has weight 1).
        class_weighting: ``median-frequency`` (SegNet's balancing of the cross-entropy,
            from the labelled frames of up to 256 training clips) or ``none``.
        clip: gradient-norm clipping (0: off).
        flow_lr_scale: SegNet-flow: the flow regressor Θ's learning rate as a multiple of
            ``lr`` (see :class:`vstm.train.TrainConfig`); with ``init_ae``, a small value
            keeps the pretrained flow from being thrown off by the first steps.
        init_ae: SegNet-flow only: an ``ae-convlstm-flow`` checkpoint (``vstm train``,
            trained without labels) whose weights start the flow model; its config must
            match the AE fields of the model options.
        threads: torch intra-op threads (default: torch's choice).
    """

    model: Literal["segnet", "segnet-flow"] = "segnet-flow"
    model_options: dict[str, Any] = field(default_factory=dict)
    data: str = "moving-mnist"
    classes: str | None = None
    mnist_dir: str | None = None
    binarize: bool = True
    size: str | None = None
    channels: int | None = None
    seq_len: int = 4
    frame_step: int = 1
    train_sequences: int = 2000
    val_sequences: int = 64
    batch_size: int = 8
    steps: int = 500
    optimizer: Literal["adam", "rmsprop"] = "adam"
    lr: float = 3e-3
    flow_lr_scale: float = 1.0
    recon_loss: Literal["auto", "bce", "mse"] = "auto"
    w_recon: float = 1.0
    class_weighting: Literal["none", "median-frequency"] = "median-frequency"
    w_h: float = 1e-2
    delta: float = 1e-3
    clip: float = 5.0
    init_ae: str | None = None
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    out: str = "runs/segment"
    eval_every: int = 100
    log_every: int = 10
    max_minutes: float | None = None

    def is_mnist(self) -> bool:
        return canonical_data(self.data) in BUILTIN_DATA

    def resolved_channels(self) -> int:
        return self.channels if self.channels is not None else (1 if self.is_mnist() else 3)

    def resolved_recon_loss(self) -> str:
        if self.recon_loss != "auto":
            return self.recon_loss
        return "bce" if self.is_mnist() and self.binarize else "mse"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def tiny_seg_overrides() -> dict[str, Any]:
    """A debug preset (tests): tiny models, 32x32 clips of 3 frames, a few steps."""
    return {
        "size": "32",
        "seq_len": 3,
        "train_sequences": 8,
        "val_sequences": 4,
        "batch_size": 4,
        "steps": 3,
        "eval_every": 2,
        "log_every": 1,
        "threads": 1,
    }


def parse_size(size: str | int | None) -> int | tuple[int, int] | None:
    """``"64"`` -> 64, ``"180x240"`` -> (180, 240) (height x width), None -> None."""
    if size is None or isinstance(size, int):
        return size
    parts = str(size).lower().split("x")
    try:
        vals = [int(p) for p in parts]
    except ValueError:
        vals = []
    if len(vals) not in (1, 2) or min(vals, default=0) < 1:
        raise VstmError(f"--size {size!r}: expected N or HxW in pixels, e.g. 64 or 180x240")
    return vals[0] if len(vals) == 1 else (vals[0], vals[1])


def make_seg_config(*layers: dict[str, Any]) -> SegTrainConfig:
    """Merge dicts of overrides left to right onto the defaults, checking keys and types."""
    hints = typing.get_type_hints(SegTrainConfig)
    merged: dict[str, Any] = {}
    for layer in layers:
        for k, v in layer.items():
            k = k.replace("-", "_")
            if k not in hints:
                raise VstmError(
                    f"segment config: unknown key {k!r}; known keys: {', '.join(sorted(hints))}"
                )
            merged[k] = check_value("segment config", k, hints[k], v)
    if "size" in merged and merged["size"] is not None:
        merged["size"] = str(merged["size"])
        parse_size(merged["size"])
    return SegTrainConfig(**merged)


def build_segmenter(name: str, **options: Any) -> nn.Module:
    """A segmenter of :data:`SEGMENTERS` from its config fields (unknown keys: one-line error)."""
    if name not in SEGMENTERS:
        raise VstmError(f"unknown segmenter {name!r}; choose one of: {', '.join(SEGMENTERS)}")
    cls, cfg_cls = SEGMENTERS[name]
    fields = {f.name for f in dataclasses.fields(cfg_cls)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise VstmError(
            f"{name} config: unknown key(s) {', '.join(unknown)}; known keys: "
            f"{', '.join(sorted(fields))}"
        )
    if name == "segnet-flow":
        from vstm.models import build_model

        return build_model(name, **options)  # the registry checks the types
    return cls(cfg_cls(**options))


def load_segmenter(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a segmenter (``segnet`` or ``segnet-flow``) from a checkpoint alone.

    Returns:
        (model in eval mode, header with ``model``, ``model_config``, ``train_config``,
        ``trainer``).
    """
    header, tensors = read_checkpoint(path)
    name = header["model"]
    if name not in SEGMENTERS:
        raise VstmError(
            f"checkpoint {path} holds a {name!r} model, not a segmenter; pass a checkpoint "
            "written by vstm segment train"
        )
    model = build_segmenter(name, **header["model_config"])
    load_model_weights(model, tensors, path)
    return model.to(map_location).eval(), header


def init_flow_model(model: nn.Module, path: str | Path) -> None:
    """Load an ``ae-convlstm-flow`` checkpoint into SegNet-flow's flow model (``model.ae``)."""
    from vstm.train.checkpoint import load_checkpoint

    if getattr(model, "name", "") != "segnet-flow":
        raise VstmError(f"--init-ae {path}: only SegNet-flow has a flow model; drop --init-ae")
    ae, _ = load_checkpoint(path, expect_model="ae-convlstm-flow")
    theirs, ours = dataclasses.asdict(ae.config), dataclasses.asdict(model.ae.config)
    diff = sorted(k for k in ours if k not in SETTING_FIELDS and ours[k] != theirs[k])
    if diff:
        raise VstmError(
            f"--init-ae {path}: its AE differs in {', '.join(diff)}; pass the same values as "
            "--model-option (e.g. " + ", ".join(f"{k}={theirs[k]}" for k in diff[:2]) + ")"
        )
    model.ae.load_state_dict(ae.state_dict())
    log.info("flow model initialised from %s", path)


def build_seg_datasets(cfg: SegTrainConfig) -> tuple[Dataset, Dataset | None]:
    """(train, validation or None) data sets of a config."""
    common = dict(
        seq_len=cfg.seq_len,
        size=parse_size(cfg.size),
        channels=cfg.resolved_channels(),
        binarize=cfg.binarize,
        mnist_dir=cfg.mnist_dir,
        frame_step=cfg.frame_step,
        classes=cfg.classes,
    )
    if cfg.is_mnist():
        train = build_seg_dataset(
            cfg.data, split="train", num_sequences=cfg.train_sequences, seed=cfg.seed, **common
        )
        val = build_seg_dataset(
            cfg.data,
            split="train",
            num_sequences=cfg.val_sequences,
            seed=cfg.seed + 7_919_113,
            **common,
        )
        return train, (val if cfg.val_sequences > 0 else None)
    train = build_seg_dataset(cfg.data, split="train", **common)
    val = None
    if cfg.val_sequences > 0 and (Path(cfg.data) / "val.txt").is_file():
        val = build_seg_dataset(cfg.data, split="val", **common)
        if len(val) > cfg.val_sequences:
            val = Subset(val, range(cfg.val_sequences))
    return train, val


@torch.no_grad()
def validation_score(
    model: nn.Module, ds: Dataset, num_classes: int, batch_size: int, device
) -> dict[str, float]:
    """Class-average and global accuracy (%) of ``model`` on the labelled frames of ``ds``."""
    was_training = model.training
    model.eval()
    cm = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    for batch in DataLoader(ds, batch_size=batch_size):
        frames, labels, labelled = (batch[k].to(device) for k in ("frames", "labels", "labelled"))
        if getattr(model, "name", "") == "segnet":
            logits = model(frames[labelled])  # (N, K, H, W)
        else:
            logits = model.segment(frames)[labelled]
        cm += confusion_matrix(logits.argmax(dim=1), labels[labelled], num_classes).cpu()
    model.train(was_training)
    s = scores_from_confusion(cm)
    return {"class_avg": s["class_avg"], "global": s["global"], "miou": s["miou"]}


def train_segmenter(cfg: SegTrainConfig) -> Path:
    """Train a segmenter as ``cfg`` says; returns the run folder. The folder is locked while
    the run writes to it: a second run into the same ``--out`` is refused, not interleaved."""
    from vstm.train.faults import RunLock

    with RunLock(cfg.out):
        return _train_segmenter(cfg)


def _train_segmenter(cfg: SegTrainConfig) -> Path:
    from vstm.train.distributed import resolve_device

    out = Path(cfg.out)
    if (out / "last.safetensors").exists():
        raise VstmError(f"{out} already holds a run; choose another --out")
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    train_set, val_set = build_seg_datasets(cfg)
    labels = label_set_of(train_set)
    if len(train_set) < cfg.batch_size:
        raise VstmError(
            f"data {cfg.data}: {len(train_set)} training clips cannot fill a batch of "
            f"{cfg.batch_size}; lower --batch-size"
        )
    options = {
        "in_channels": cfg.resolved_channels(),
        "num_classes": labels.num_classes,
        **cfg.model_options,
    }
    if cfg.model == "segnet-flow":
        options.setdefault("w_h", cfg.w_h)
        options.setdefault("delta", cfg.delta)
    model = build_segmenter(cfg.model, **options).to(device)
    if cfg.init_ae is not None:
        init_flow_model(model, cfg.init_ae)
    weights = None
    if cfg.class_weighting == "median-frequency":
        sample = [train_set[i] for i in range(min(len(train_set), 256))]
        weights = median_frequency_weights(
            torch.cat([it["labels"][it["labelled"]] for it in sample]), labels.num_classes
        )
        log.info("class weights (median frequency): %s", [round(w, 3) for w in weights.tolist()])
    task = SegmentationTask(
        cfg.resolved_recon_loss(), cfg.w_recon, cfg.w_h, cfg.delta, class_weights=weights
    )
    opt_cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.RMSprop
    optimizer = opt_cls(param_groups(model, cfg.flow_lr_scale, cfg.lr), lr=cfg.lr)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")
    metrics_path = out / "metrics.jsonl"
    metrics_path.write_text("")

    def write_row(row: dict) -> None:
        with open(metrics_path, "a") as f:
            f.write(json.dumps(row) + "\n")

    gen = torch.Generator().manual_seed(cfg.seed)
    n_params = sum(p.numel() for p in model.parameters())
    log.info(
        "training %s (%d parameters) on %s: %d clips of %d frames, batch %d, %d steps, %s",
        cfg.model,
        n_params,
        cfg.data,
        len(train_set),
        cfg.seq_len,
        cfg.batch_size,
        cfg.steps,
        device,
    )
    step, best, seconds = 0, -math.inf, 0.0
    start = time.monotonic()
    stop = False

    def checkpoint() -> None:
        nonlocal best
        score = (
            validation_score(model, val_set, labels.num_classes, cfg.batch_size, device)
            if val_set is not None
            else None
        )
        state = {
            "step": step,
            "train_seconds": seconds,
            "wall_seconds": time.monotonic() - start,
            "val": score,
            "parameters": n_params,
            "class_weights": None if weights is None else weights.tolist(),
        }
        if score is not None:
            write_row({"kind": "val", "step": step, "elapsed_s": seconds, **score})
            log.info(
                "step %d: validation class avg %.2f%%, global %.2f%%",
                step,
                score["class_avg"],
                score["global"],
            )
        save_checkpoint(
            out / "last.safetensors",
            model,
            train_config=cfg.to_dict(),
            trainer=state,
            optimizer=optimizer,
        )
        value = score["class_avg"] if score is not None else -math.inf
        if score is None or value > best:
            best = value
            save_checkpoint(
                out / "best.safetensors", model, train_config=cfg.to_dict(), trainer=state
            )

    model.train()
    while not stop:
        loader = DataLoader(
            train_set, batch_size=cfg.batch_size, shuffle=True, generator=gen, drop_last=True
        )
        for batch in loader:
            t0 = time.monotonic()
            batch = {k: v.to(device) for k, v in batch.items()}
            optimizer.zero_grad(set_to_none=True)
            parts = task(model, batch)
            parts.total.backward()
            if cfg.clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            loss = float(parts.total.detach())
            if not math.isfinite(loss):
                raise VstmError(f"training diverged: loss is {loss} at step {step + 1}; lower --lr")
            optimizer.step()
            step += 1
            seconds += time.monotonic() - t0
            if step % cfg.log_every == 0 or step == cfg.steps:
                row = {
                    "kind": "train",
                    "step": step,
                    "loss": loss,
                    "seg": float(parts.seg),
                    "recon": float(parts.recon),
                    "smooth": float(parts.smooth),
                    "elapsed_s": seconds,
                }
                write_row(row)
                log.info(
                    "step %d/%d loss %.4f (seg %.4f recon %.4f) %.2f s/step",
                    step,
                    cfg.steps,
                    loss,
                    row["seg"],
                    row["recon"],
                    seconds / step,
                )
            over = cfg.max_minutes is not None and time.monotonic() - start > cfg.max_minutes * 60
            if step >= cfg.steps or over:
                if over and step < cfg.steps:
                    log.info("stopped at step %d after %.1f minutes", step, cfg.max_minutes)
                stop = True
                break
            if cfg.eval_every > 0 and step % cfg.eval_every == 0:
                checkpoint()
    checkpoint()
    return out
