"""Training tasks: what the one :class:`~vstm.train.loop.Trainer` trains a model to do.

A task builds the run's model and data from its config (``setup``), turns a batch into named
losses (``batch_loss``, the ``total`` with gradient), scores the validation set
(``validate``, its ``score`` entry chooses ``best.safetensors``: lower is better unless
``higher_is_better``), and names the command that resumes its runs.

- :class:`NextFrameTask` (``vstm train``): eq. 4, every next frame and the flow smoothness;
- :class:`SegmentationTask` (``vstm segment train``, paper 5.2): SegNet / SegNet-flow from
  one labelled frame per clip.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from vstm.data import build_dataset
from vstm.data.labelled import label_set_of, parse_size
from vstm.data.names import BUILTIN_DATA
from vstm.errors import VstmError
from vstm.metrics import VOID, confusion_matrix, scores_from_confusion
from vstm.models import (
    Prediction,
    VideoPredictor,
    build_model,
    facts_of,
    model_facts,
    model_names,
    to_probabilities,
)
from vstm.models.ae_convlstm_flow import SETTING_FIELDS
from vstm.models.checkpoint import load_checkpoint, model_outputs
from vstm.nn import huber_smoothness
from vstm.system import autocast
from vstm.train.clips import build_datasets, build_model_for
from vstm.train.lineage import lineage_of

if TYPE_CHECKING:
    from vstm.train.config import TrainConfig

__all__ = [
    "LossParts",
    "NextFrameTask",
    "SegLossParts",
    "SegmentationTask",
    "TrainingSetup",
    "init_flow_model",
    "labelled_frames",
    "make_task",
    "median_frequency_weights",
]

log = logging.getLogger("vstm.train")


@dataclass
class LossParts:
    total: torch.Tensor
    recon: torch.Tensor
    smooth: torch.Tensor

    def named(self) -> dict[str, torch.Tensor]:
        """The detached parts, by the names the logs use."""
        return {"recon": self.recon, "smooth": self.smooth}


@dataclass
class SegLossParts:
    """Scalar tensors: ``total`` (with gradient) and its detached parts."""

    total: torch.Tensor
    seg: torch.Tensor
    recon: torch.Tensor
    smooth: torch.Tensor

    def named(self) -> dict[str, torch.Tensor]:
        return {"seg": self.seg, "recon": self.recon, "smooth": self.smooth}


@dataclass
class TrainingSetup:
    """What a task builds for a run: the model, the training and validation data (None: no
    validation set), and whether the training set is an endless generator (Moving MNIST
    next-frame: fresh sequences every epoch)."""

    model: nn.Module
    train: Dataset
    val: Dataset | None
    endless: bool
    init: dict[str, Any] | None = None  # a warm start's lineage (vstm.train.lineage)


def _build(name: str, options: dict[str, Any]) -> nn.Module:
    try:
        return build_model(name, **options)
    except (RuntimeError, ValueError, TypeError) as e:  # e.g. a size torch refuses
        raise VstmError(f"{name}: cannot build it with {options} ({e})") from e


class NextFrameTask:
    """Eq. 4: reconstruction of every next frame + w_H * Huber smoothness of the flow.

    Args:
        loss: ``"bce"`` (the model outputs logits) or ``"mse"`` (the model outputs values).
        w_h, delta: smoothness weight and Huber threshold; the explicit term is added only for
            models whose config says ``smoothness="loss"`` (with ``"inject"`` the model's own
            module H already puts the same gradient into backward).

    ``__call__(model, frames)`` with frames (B, T, C, H, W) feeds frames[:, :-1] and scores
    pred[:, t] against frames[:, t+1]. The best checkpoint has the lowest validation loss.
    """

    name: ClassVar[str] = "next-frame"
    inputs: ClassVar[tuple[str, ...]] = ("frames",)  # the batch entries the loss reads
    command: ClassVar[str] = "vstm train"
    score: ClassVar[str] = "val_loss"
    higher_is_better: ClassVar[bool] = False

    def __init__(
        self,
        loss: str = "bce",
        w_h: float = 1e-2,
        delta: float = 1e-3,
        horizon: int = 1,
        ss_steps: int = 0,
    ) -> None:
        if loss not in ("bce", "mse"):
            raise ValueError(f"loss must be 'bce' or 'mse', got {loss!r}")
        if horizon < 1 or ss_steps < 0:
            raise ValueError(f"horizon must be >= 1 and ss_steps >= 0, got {horizon}, {ss_steps}")
        self.loss, self.w_h, self.delta = loss, w_h, delta
        self.horizon, self.ss_steps = int(horizon), int(ss_steps)
        self.step = 0  # the optimiser step about to run (the Trainer sets it): the schedule's clock

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> NextFrameTask:
        return cls(cfg.resolved_loss(), cfg.w_h, cfg.delta, cfg.horizon, cfg.ss_steps)

    def truth_probability(self, step: int | None = None) -> float:
        """Scheduled sampling: the chance that a forecast step is fed the true frame instead
        of the model's own prediction, at optimiser step ``step`` (default: the current one).
        It falls linearly from 1 (teacher forcing) at step 0 to 0 (closed loop) at step
        ``ss_steps``; with ``ss_steps=0`` training is closed loop from the start.

        >>> task = NextFrameTask("bce", horizon=10, ss_steps=1000)
        >>> [task.truth_probability(s) for s in (0, 250, 1000, 5000)]
        [1.0, 0.75, 0.0, 0.0]
        """
        step = self.step if step is None else step
        if self.ss_steps == 0:
            return 0.0
        return max(0.0, 1.0 - step / self.ss_steps)

    def forecast(self, model: nn.Module, frames: torch.Tensor, p_truth: float) -> Prediction:
        """Predictions of frames 1..T-1 of ``frames`` (B, T, C, H, W): the first ``T -
        horizon`` frames are the context (teacher forced, one batched forward), then each of
        the ``horizon - 1`` later inputs is the model's own prediction of it (as
        :meth:`~vstm.models.VideoPredictor.rollout` feeds it back: probabilities for a BCE
        model, clamped values for an MSE one), or, with probability ``p_truth`` per clip and
        step, the true frame. Gradients flow through the fed-back predictions.
        """
        k = frames.shape[1] - self.horizon
        out: Prediction = model(frames[:, :k])  # pred (B, K, C, H, W): frames 1..K
        if self.horizon == 1:
            return out
        outputs = "logits" if self.loss == "bce" else "values"
        preds, flows, state = [out.pred], [out.flow], out.state
        pred = out.pred[:, -1]
        for j in range(self.horizon - 1):
            fed = to_probabilities(pred, outputs)  # (B, C, H, W): its own forecast of frame K+j
            if p_truth > 0:
                truth = frames[:, k + j]
                use = torch.rand(frames.shape[0], device=frames.device) < p_truth  # (B,)
                fed = torch.where(use.view(-1, 1, 1, 1), truth.to(fed.dtype), fed)
            pred, flow, state = model.step(fed, state)
            preds.append(pred.unsqueeze(1))
            flows.append(None if flow is None else flow.unsqueeze(1))
        flow = None if flows[0] is None else torch.cat(flows, dim=1)  # (B, T-1, 2, h, w)
        return Prediction(torch.cat(preds, dim=1), flow, state)  # pred (B, T-1, C, H, W)

    def setup(self, cfg: TrainConfig, fresh: bool = True) -> TrainingSetup:
        """The model (built first: the data takes its channels), then the clips of
        ``context + 1`` frames (:func:`vstm.train.clips.build_datasets`)."""
        model = build_model_for(cfg)
        init = init_weights(model, cfg.init, cfg.resolved_loss()) if fresh and cfg.init else None
        train, val, endless = build_datasets(cfg, model.in_channels)
        return TrainingSetup(model, train, val, endless, init)

    def reconstruction(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred = pred.float()
        if self.loss == "bce":
            return F.binary_cross_entropy_with_logits(pred, target)
        return F.mse_loss(pred, target)

    def smoothness(self, model: VideoPredictor, out: Prediction) -> torch.Tensor:
        cfg = getattr(model, "config", None)
        if out.flow is None or getattr(cfg, "smoothness", "loss") != "loss" or self.w_h == 0:
            return out.pred.new_zeros((), dtype=torch.float32)
        return huber_smoothness(out.flow.float(), self.delta, self.w_h)

    def __call__(self, model: torch.nn.Module, frames: torch.Tensor) -> LossParts:
        inner = getattr(model, "module", model)  # DDP wraps the model
        if self.horizon == 1:
            out: Prediction = model(frames[:, :-1])
        else:  # closed loop: model.step runs outside DDP's forward (refused under DDP)
            p = self.truth_probability() if model.training else 0.0
            out = self.forecast(inner, frames, p)
        recon = self.reconstruction(out.pred, frames[:, 1:])
        smooth = self.smoothness(inner, out)
        return LossParts(recon + smooth, recon.detach(), smooth.detach())

    def batch_loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> LossParts:
        return self(model, batch["frames"])

    @torch.no_grad()
    def validate(
        self, model: nn.Module, ds: Dataset | None, cfg: TrainConfig, device: torch.device
    ) -> dict[str, float] | None:
        """The mean loss per clip of ``ds`` (under the run's precision)."""

        if ds is None or len(ds) == 0:  # type: ignore[arg-type]
            return None  # no clips: no score (never a mean over nothing)
        model.eval()
        loader = DataLoader(ds, batch_size=max(cfg.batch_size // 2, 1))
        total, n = 0.0, 0
        for batch in loader:
            frames = batch["frames"].to(device)
            with autocast(device, cfg.precision):
                parts = self(model, frames)
            total += parts.total.item() * frames.shape[0]
            n += frames.shape[0]
        model.train()
        return {"val_loss": total / n}

    def describe(self, val: dict[str, float] | None) -> str:
        if val is None:
            return "no validation set (best.safetensors is the latest checkpoint)"
        return f"validation loss {val['val_loss']:.5f}"

    def header(self, val: dict[str, float] | None) -> dict[str, Any]:
        return {"val_loss": None if val is None else val["val_loss"]}


def labelled_frames(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The labelled frames of a batch and their labels: (N, C, H, W), (N, H, W)."""
    frames, labels, labelled = batch["frames"], batch["labels"], batch["labelled"]
    return frames[labelled], labels[labelled]  # boolean index over (B, T)


def median_frequency_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """SegNet's median frequency balancing: ``w_k = median(freq) / freq_k``.

    ``freq_k`` is the number of pixels of class k divided by the number of pixels of the
    images (label maps) in which k occurs; classes that never occur get weight 0.

    Args:
        labels: (N, H, W) label maps (void pixels are ignored).

    >>> import torch
    >>> lab = torch.tensor([[[0, 0, 0, 1]], [[0, 0, 0, 0]]])   # class 1 only in map 0
    >>> [round(w, 4) for w in median_frequency_weights(lab, 2).tolist()]  # freq 7/8, 1/4
    [0.6429, 2.25]
    """
    counts = torch.zeros(num_classes, dtype=torch.float64)
    image_pixels = torch.zeros(num_classes, dtype=torch.float64)
    for lab in labels:
        valid = (lab >= 0) & (lab < num_classes)
        c = torch.bincount(lab[valid].reshape(-1), minlength=num_classes).double()
        counts += c
        image_pixels += (c > 0).double() * float(valid.sum())
    present = counts > 0
    freq = torch.where(present, counts / image_pixels.clamp(min=1), torch.zeros_like(counts))
    median = (
        freq[present].quantile(0.5) if present.any() else torch.tensor(1.0, dtype=torch.float64)
    )
    w = torch.where(present, median / freq.clamp(min=1e-12), torch.zeros_like(freq))
    return w.float()


class SegmentationTask:
    """Weakly-supervised segmentation (paper 5.2): the loss of a segmenter on a batch
    ``{"frames", "labels", "labelled"}``; the best checkpoint has the highest validation
    class-average accuracy.

    - SegNet (the per-frame baseline): cross-entropy on the labelled frames only; the other
      frames of a clip are not even run (they carry no labels and the model has no memory).
    - SegNet-flow: cross-entropy of L̃_t on the labelled frames, **added** to the next-frame
      reconstruction loss of AE-ConvLSTM-flow and its Huber smoothness penalty (eq. 4), all
      trained jointly, end to end.

    Args:
        recon_loss: ``"bce"`` (binary frames, logits out) or ``"mse"``, for SegNet-flow.
        w_recon: weight of the reconstruction term beside the cross-entropy (paper: added, 1).
        w_h, delta: the smoothness penalty (paper: 1e-2, 1e-3); added as a loss term when the
            model's config says ``smoothness="loss"``.
        class_weights: optional (K,) weights of the cross-entropy (SegNet's median frequency
            balancing: :func:`median_frequency_weights`).
    """

    def __init__(
        self,
        recon_loss: str = "bce",
        w_recon: float = 1.0,
        w_h: float = 1e-2,
        delta: float = 1e-3,
        class_weights: torch.Tensor | None = None,
    ) -> None:
        self.next_frame = NextFrameTask(recon_loss, w_h, delta)
        self.num_classes: int | None = None  # set by setup()
        self.w_recon = w_recon
        self.class_weights = class_weights

    def cross_entropy(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean (weighted) cross-entropy over non-void pixels: logits (N, K, H, W), labels
        (N, H, W)."""
        if (labels != VOID).sum() == 0:
            return logits.sum() * 0.0  # keeps the graph; no labelled pixel in this batch
        w = self.class_weights
        w = None if w is None else w.to(device=logits.device, dtype=torch.float32)
        return F.cross_entropy(logits.float(), labels, weight=w, ignore_index=VOID)

    name: ClassVar[str] = "segmentation"
    inputs: ClassVar[tuple[str, ...]] = ("frames", "labels", "labelled")
    command: ClassVar[str] = "vstm segment train"
    score: ClassVar[str] = "class_avg"
    higher_is_better: ClassVar[bool] = True

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> SegmentationTask:
        """``auto`` reconstruction loss: bce on binary Moving MNIST, else mse."""
        recon = cfg.loss
        if recon == "auto":
            recon = "bce" if cfg.data in BUILTIN_DATA and cfg.binarize else "mse"
        return cls(recon, cfg.w_recon, cfg.w_h, cfg.delta)

    def setup(self, cfg: TrainConfig, fresh: bool = True) -> TrainingSetup:
        """Labelled clips of ``context + 1`` frames (the last labelled), and the segmenter
        for their classes; on a ``fresh`` run, ``init_ae`` starts SegNet-flow's flow model.
        Median-frequency class weights come from up to 256 training clips."""

        if cfg.model not in model_names("segmentation"):
            raise VstmError(
                f"model {cfg.model!r} does not segment; choose one of: "
                f"{', '.join(model_names('segmentation'))}"
            )
        if cfg.frame_cache is not None or cfg.holdout:
            raise VstmError("--frame-cache and --holdout apply to vstm train, not segmentation")
        mnist = cfg.data in BUILTIN_DATA
        channels = cfg.channels if cfg.channels is not None else (1 if mnist else 3)
        common = dict(
            labels=True,
            seq_len=cfg.context + 1,
            size=parse_size(cfg.size),
            channels=channels,
            binarize=cfg.binarize,
            mnist_dir=cfg.mnist_dir,
            frame_step=cfg.frame_step,
            classes=cfg.classes,
        )
        val: Dataset | None = None
        if mnist:
            n = cfg.train_sequences
            train = build_dataset(cfg.data, split="train", num_sequences=n, seed=cfg.seed, **common)
            if cfg.val_sequences > 0:
                seed = cfg.seed + 7_919_113
                n = cfg.val_sequences
                val = build_dataset(cfg.data, split="train", num_sequences=n, seed=seed, **common)
        else:
            train = build_dataset(cfg.data, split="train", **common)
            if cfg.val_sequences > 0 and (Path(cfg.data) / "val.txt").is_file():
                val = build_dataset(cfg.data, split="val", **common)
                if len(val) > cfg.val_sequences:
                    val = Subset(val, range(cfg.val_sequences))
        labels = label_set_of(train)
        self.num_classes = labels.num_classes
        given = {"in_channels": channels, "num_classes": labels.num_classes}
        options = model_facts(cfg.model).options_for(
            {**given, **cfg.model_options}, w_h=cfg.w_h, delta=cfg.delta
        )  # the registry decides which of the run's settings the segmenter takes
        model = _build(cfg.model, options)
        if fresh and cfg.init_ae is not None:
            init_flow_model(model, cfg.init_ae)
        if cfg.class_weighting == "median-frequency":
            sample = [train[i] for i in range(min(len(train), 256))]
            self.class_weights = median_frequency_weights(
                torch.cat([it["labels"][it["labelled"]] for it in sample]), labels.num_classes
            )
            weights = [round(w, 3) for w in self.class_weights.tolist()]
            log.info("class weights (median frequency): %s", weights)
        return TrainingSetup(model, train, val, endless=False)

    def batch_loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> SegLossParts:
        return self(model, batch)

    @torch.no_grad()
    def validate(
        self, model: nn.Module, ds: Dataset | None, cfg: TrainConfig, device: torch.device
    ) -> dict[str, float] | None:
        """Class-average and global accuracy and mIoU (%) on the labelled frames of ``ds``."""

        if ds is None or len(ds) == 0:  # type: ignore[arg-type]
            return None
        k = model.config.num_classes
        was_training = model.training
        model.eval()
        cm = torch.zeros(k, k, dtype=torch.int64)
        for batch in DataLoader(ds, batch_size=cfg.batch_size):
            frames, labels, labelled = (
                batch[n].to(device) for n in ("frames", "labels", "labelled")
            )
            if facts_of(model).segmenter == "per-frame":
                logits = model(frames[labelled])  # (N, K, H, W)
            else:
                logits = model.segment(frames)[labelled]
            cm += confusion_matrix(logits.argmax(dim=1), labels[labelled], k).cpu()
        model.train(was_training)
        if int(cm.sum()) == 0:  # no labelled pixel: no score
            return None
        s = scores_from_confusion(cm)
        return {"class_avg": s["class_avg"], "global": s["global"], "miou": s["miou"]}

    def describe(self, val: dict[str, float] | None) -> str:
        if val is None:
            return "no validation set"
        return f"validation class avg {val['class_avg']:.2f}%, global {val['global']:.2f}%"

    def header(self, val: dict[str, float] | None) -> dict[str, Any]:
        w = self.class_weights
        return {"val": val, "class_weights": None if w is None else w.tolist()}

    def __call__(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> SegLossParts:
        if not bool(batch["labelled"].any()):
            raise VstmError("segmentation batch holds no labelled frame; check the data set")
        if facts_of(model).segmenter == "per-frame":  # facts_of looks inside a DDP wrapper
            frames, labels = labelled_frames(batch)  # (N, C, H, W), (N, H, W)
            seg = self.cross_entropy(model(frames), labels)
            zero = seg.new_zeros(())
            return SegLossParts(seg, seg.detach(), zero, zero)
        frames = batch["frames"]  # (B, T, C, H, W)
        out = model(frames)  # SegPrediction
        labelled = batch["labelled"]  # (B, T)
        seg = self.cross_entropy(out.seg[labelled], batch["labels"][labelled])
        # pred[:, t] predicts frame t+1: score pred[:, :-1] against frames[:, 1:]
        recon = self.next_frame.reconstruction(out.pred[:, :-1], frames[:, 1:])
        inner = getattr(model, "module", model)  # DDP wraps the model
        smooth = self.next_frame.smoothness(inner, out)
        total = seg + self.w_recon * recon + smooth
        return SegLossParts(total, seg.detach(), recon.detach(), smooth.detach())


def _check_same_architecture(ours: Any, theirs: Any, what: str) -> None:
    """Two model configs agree on every field but those that only change how the model
    computes (``SETTING_FIELDS``); else one line naming the fields and the options to pass."""

    a, b = dataclasses.asdict(ours), dataclasses.asdict(theirs)
    diff = sorted(k for k in a if k not in SETTING_FIELDS and a[k] != b.get(k))
    if diff:
        raise VstmError(
            f"{what} differs in {', '.join(diff)}; pass the same values as --model-option "
            "(e.g. " + ", ".join(f"{k}={b.get(k)}" for k in diff[:2]) + ")"
        )


def init_weights(model: nn.Module, path: str | Path, loss: str | None = None) -> dict[str, Any]:
    """Start a fresh run from the weights of a checkpoint (``vstm train --init``): a warm
    restart of a shipped model, or fine-tuning it on other data. The optimiser starts anew.
    Returns the checkpoint's lineage record (:func:`vstm.train.lineage.lineage_of`), which
    the run's checkpoints keep.

    The checkpoint's model must have the same parameters (names and shapes) and the same
    architecture fields; fields that only change how it computes (``SETTING_FIELDS``) may
    differ. It is this model, or one the registry says starts it (``starts_from``: the
    paper's flow model starts ``ae-convlstm-pixelflow``, all but D, which stays the zero
    residual). With ``loss`` (this run's, resolved), a checkpoint of this model must output
    the same kind of number: logits for ``bce``, values for ``mse``
    (:func:`_check_same_outputs`); a model started from another keeps its own outputs.
    """

    source, header = load_checkpoint(path)
    ours, theirs = model.state_dict(), source.state_dict()
    name, other = getattr(model, "name", "model"), header.get("model")
    shapes = {k: tuple(v.shape) for k, v in ours.items()}
    if shapes != {k: tuple(v.shape) for k, v in theirs.items()}:
        raise VstmError(
            f"--init {path}: its {other} has other parameters than this {name}; pass the same "
            "--model and --model-option values it was trained with"
        )
    _check_same_architecture(model.config, source.config, f"--init {path}: its model")
    kept: tuple[str, ...] = ()
    if other != name:
        starts = model_facts(name).starts_from
        if other not in starts:
            known = ", ".join(starts) or "none"
            raise VstmError(
                f"--init {path}: {other} weights do not start a {name} (models that do: "
                f"{known}); pass --model {other} or a {name} checkpoint"
            )
        kept = starts[other]
        theirs = {k: (ours[k] if k.startswith(kept) else v) for k, v in theirs.items()}
    elif loss is not None:
        _check_same_outputs(header, loss, path)
    model.load_state_dict(theirs)
    log.info("weights initialised from %s (%s, step %s)%s", path, other,
             (header.get("trainer") or {}).get("step"),
             f"; {', '.join(kept)} kept at this model's start" if kept else "")  # fmt: skip
    return lineage_of(path, header)


def _check_same_outputs(header: dict, loss: str, path: str | Path) -> None:
    """Refuse a warm start whose decoder outputs the other kind of number: weights trained
    with BCE output logits, which an MSE loss would read as intensities (on the first H200
    run the 10 -> 10 fine-tune started at an MSE of 95 per pixel and unlearned the shipped
    decoder before anything else)."""

    theirs = model_outputs(header)
    ours = "logits" if loss == "bce" else "values"
    if theirs != ours:
        trained = "bce" if theirs == "logits" else "mse"
        raise VstmError(
            f"--init {path}: its model outputs {theirs} (trained with --loss {trained}), but "
            f"this run's --loss {loss} reads {ours}; pass --loss {trained} (BCE also takes grey "
            "targets) or train from scratch"
        )


def init_flow_model(model: nn.Module, path: str | Path) -> None:
    """Load an ``ae-convlstm-flow`` checkpoint into SegNet-flow's flow model (``model.ae``)."""

    facts = facts_of(model)
    if facts is None or facts.segmenter != "propagated":
        raise VstmError(f"--init-ae {path}: only SegNet-flow has a flow model; drop --init-ae")
    ae, _ = load_checkpoint(path, expect_model="ae-convlstm-flow")
    _check_same_architecture(model.ae.config, ae.config, f"--init-ae {path}: its AE")
    model.ae.load_state_dict(ae.state_dict())
    log.info("flow model initialised from %s", path)


TASKS: dict[str, type] = {"next-frame": NextFrameTask, "segmentation": SegmentationTask}


def make_task(cfg: TrainConfig) -> NextFrameTask | SegmentationTask:
    """The task ``cfg.task`` names, with the config's loss settings."""
    return TASKS[cfg.task].from_config(cfg)
