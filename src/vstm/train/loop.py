"""The training loop: deterministic, resumable, data-parallel under torchrun."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import logging
import math
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from vstm.data.mix import MixedClips
from vstm.data.names import is_generated, is_moving_mnist, is_photo_motion
from vstm.data.video import frame_cache_dir
from vstm.errors import VstmError
from vstm.io import atomic_write_text
from vstm.models import VideoPredictor, build_model
from vstm.nn import FlowRegressor
from vstm.system import PrecisionChoice, choose_precision, cpu_model
from vstm.train import distributed as dist_utils
from vstm.train.checkpoint import read_checkpoint, restore_training, save_checkpoint
from vstm.train.config import TrainConfig, make_config
from vstm.train.faults import (
    LAST,
    RunLock,
    StoppedBySignal,
    StopSignals,
    keep_previous,
    resume_checkpoint,
)
from vstm.train.graphed import GraphedTrainStep, make_optimizer
from vstm.train.task import NextFrameTask, SegmentationTask, make_task

__all__ = ["Trainer", "build_datasets", "build_model_for", "train"]

log = logging.getLogger("vstm.train")


def build_model_for(cfg: TrainConfig) -> VideoPredictor:
    """The model a training config describes (w_H, δ and channels passed through)."""
    from vstm.models import MODELS

    options = dict(cfg.model_options)
    fields = (
        {f.name for f in dataclasses.fields(MODELS[cfg.model].config_cls)}
        if (cfg.model in MODELS)
        else set()
    )
    if "w_h" in fields:
        options.setdefault("w_h", cfg.w_h)
    if "delta" in fields:
        options.setdefault("delta", cfg.delta)
    if cfg.channels is not None:
        options.setdefault("in_channels", cfg.channels)
    if "frame_height" in fields and cfg.size is not None:  # ae-fclstm: one fixed frame size
        options.setdefault("frame_height", cfg.size)
        options.setdefault("frame_width", cfg.size)
    try:
        return build_model(cfg.model, **options)
    except (RuntimeError, ValueError, TypeError) as e:  # e.g. a size torch refuses
        raise VstmError(f"{cfg.model}: cannot build it with {options} ({e})") from e


def build_datasets(cfg: TrainConfig, channels: int) -> tuple[Dataset, Dataset, bool]:
    """(train, validation, endless) data sets; ``endless``: the train set is an endless
    generator indexed epoch after epoch with fresh sequences (Moving MNIST)."""
    from vstm.data import build_dataset

    seq_len = cfg.context + cfg.horizon
    common = dict(
        seq_len=seq_len,
        channels=channels,
        size=cfg.size,
        binarize=cfg.binarize,
        mnist_dir=cfg.mnist_dir,
        short_hint=f"use a smaller --context (a clip is context + horizon = {seq_len} frames)",
    )
    if is_generated(cfg.data):
        if cfg.frame_step != 1 or cfg.frame_cache is not None or cfg.holdout or cfg.mix_data:
            raise VstmError(
                "--frame-step, --frame-cache, --holdout and --mix-data apply to real video, "
                f"not {cfg.data}"
            )
        total = cfg.epoch_sequences * max(cfg.epochs, 1)
        if cfg.steps is not None:
            total = max(total, cfg.steps * cfg.batch_size)
        train = build_dataset(cfg.data, split="train", num_sequences=total, seed=cfg.seed, **common)
        val = build_dataset(
            cfg.data,
            split="train",
            num_sequences=cfg.val_sequences,
            seed=cfg.seed + 7_919_113,
            **common,
        )
        return train, val, True
    video: dict = {}
    if cfg.holdout:
        if not 0.0 < cfg.holdout < 1.0:
            raise VstmError(f"--holdout must be a fraction in [0, 1), got {cfg.holdout}")
        video["span"] = (0.0, 1.0 - cfg.holdout)
    if cfg.frame_step != 1:
        video["frame_step"] = cfg.frame_step
    cache = frame_cache_dir(cfg.frame_cache)
    if cache is not None:
        video["cache_dir"] = cache
    # Training clips start at every (subsampled) frame: seq_len times more distinct
    # clips than non-overlapping ones. Validation takes evenly spread clips, and no
    # training clip shares a frame with one of them.
    full = build_dataset(cfg.data, split="train", seed=cfg.seed, stride=1, **common, **video)
    train_idx, val_idx = split_overlapping(full, cfg.val_sequences)
    if not train_idx:
        raise VstmError(f"data {cfg.data}: only {len(full)} clip(s) of {seq_len} frames; need more")
    if not cfg.mix_data:
        return Subset(full, train_idx), Subset(full, val_idx), False
    if not is_photo_motion(cfg.mix_data):
        raise VstmError(
            f"--mix-data {cfg.mix_data}: only photo-motion[:DIR] can be mixed into real video"
        )
    total = max(cfg.epoch_sequences * max(cfg.epochs, 1), (cfg.steps or 0) * cfg.batch_size)
    extra = build_dataset(cfg.mix_data, split="train", num_sequences=total, seed=cfg.seed, **common)
    mixed = MixedClips(Subset(full, train_idx), extra, cfg.mix_fraction, seed=cfg.seed)
    return mixed, Subset(full, val_idx), True


SYNC_EVERY_CUDA = 25
"""On CUDA (``sync_every=0``, auto) the loss is copied to the host, and checked, every this many
steps instead of every step, so that the host queues work ahead of the GPU; the other steps
keep their finiteness check on the device until then. On the CPU the copy is free: every step."""


def _check_batch_memory(cfg: TrainConfig, world_size: int) -> None:
    """Refuse, before any memory is asked for, a batch whose activations cannot fit."""
    from vstm.system import check_memory, model_bytes_per_pixel

    defaults = 64 if is_moving_mnist(cfg.data) else 96 if is_photo_motion(cfg.data) else None
    size = cfg.size if isinstance(cfg.size, int) else defaults
    if size is None:  # video at its native size: known once its frames are read
        return
    per_rank = max(cfg.batch_size // max(world_size, 1), 1)
    hc = cfg.model_options.get("hidden_channels")
    frames = cfg.context + cfg.horizon  # one training clip
    need = per_rank * frames * size * size * model_bytes_per_pixel(hc, training=True)
    check_memory(
        need,
        f"training at --size {size} with --batch-size {cfg.batch_size} and {frames}-frame clips "
        f"(--context {cfg.context}, --horizon {cfg.horizon})",
        "use a smaller --size, --batch-size, --context or --horizon",
    )


def split_overlapping(clips: Dataset, max_val: int) -> tuple[list[int], list[int]]:
    """(train, validation) clip indices of a video data set whose clips may overlap.

    Validation: at most ``max_val`` clips, and a tenth of the clips that fit side by side
    without overlap, spread evenly over all ``n``; training: every clip that shares no
    source frame with a validation clip. Data sets without ``clip_source``/``clip_start``
    (clips that share no frames) split by index alone.
    """
    n = len(clips)
    source = getattr(clips, "clip_source", None)
    start = getattr(clips, "clip_start", None)
    per_clip = max(1, getattr(clips, "seq_len", 1) // getattr(clips, "stride", 1))
    side_by_side = (n - 1) // per_clip + 1 if n else 0
    n_val = min(max_val, side_by_side // 10)
    val = list(range(0, n, max(1, n // n_val))[:n_val]) if n_val else []
    if source is None or start is None or not val:
        chosen = set(val)
        return [i for i in range(n) if i not in chosen], val
    span = (clips.seq_len - 1) * clips.frame_step  # last frame - first frame of a clip
    free = np.ones(n, dtype=bool)
    for i in val:
        free &= ~((source == source[i]) & (np.abs(start - start[i]) <= span))
    return np.flatnonzero(free).tolist(), val


class _GlobalBatches(torch.utils.data.Sampler):
    """This rank's share of a deterministic sequence of global batches, from ``start_step``.

    Step s of epoch e (s counted from the run's start) reads global batch s - e*steps_per_epoch
    of epoch e's order: fresh indices for an endless generator, else a permutation seeded by
    (seed, epoch). Rank r takes rows [r*b, (r+1)*b) of each global batch.
    """

    def __init__(
        self, n, batch, steps_per_epoch, total_steps, start_step, seed, endless, rank, world
    ):
        self.n, self.batch, self.spe = n, batch, steps_per_epoch
        self.total, self.start, self.seed, self.endless = total_steps, start_step, seed, endless
        self.rank, self.world = rank, world

    def _order(self, epoch: int) -> torch.Tensor:
        if self.endless:
            return torch.arange(self.spe * self.batch) + epoch * self.spe * self.batch
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.n, generator=g)

    def __iter__(self) -> Iterator[list[int]]:
        per = self.batch // self.world
        epoch, order = -1, None
        for step in range(self.start, self.total):
            if step // self.spe != epoch:
                epoch = step // self.spe
                order = self._order(epoch)
            i = (step - epoch * self.spe) * self.batch + self.rank * per
            yield [int(k) % self.n for k in order[i : i + per]]

    def __len__(self) -> int:
        return max(self.total - self.start, 0)


def _autocast(device: torch.device, precision: str, cache: bool = True):
    from vstm.system import autocast

    return autocast(device, precision, cache=cache)


def _lstm_impl(cfg: TrainConfig) -> str | None:
    """The model's ``lstm_impl`` default, or None for a model without a ConvLSTM."""
    from vstm.models import MODELS

    if cfg.model not in MODELS:
        return None
    for f in dataclasses.fields(MODELS[cfg.model].config_cls):
        if f.name == "lstm_impl":
            return f.default
    return None


def _resolve_path(cfg: TrainConfig, device: torch.device, run_dir: Path | None) -> PrecisionChoice:
    """The run's precision (``auto`` resolved for ``device``; a resumed run's recorded choice).

    A resumed run keeps its recorded path, on any machine, except where ``auto`` chose bf16
    and this machine does not compute bf16 natively (a run begun on a GPU, resumed on an
    AVX2 CPU): there ``auto`` is resolved again, since emulated bf16 is ~50x slower than
    fp32. Forcing bf16 there (``--precision bf16``) warns.
    """
    if run_dir is not None:
        try:
            recorded = json.loads((run_dir / "config.json").read_text()).get("path")
        except (OSError, json.JSONDecodeError, AttributeError):
            recorded = None
        if isinstance(recorded, dict) and recorded.get("precision") == cfg.precision:
            if recorded.get("requested") == "auto" and recorded["precision"] == "bf16":
                here = choose_precision("auto", device)
                if here.precision != "bf16":
                    log.warning("resumed on a machine without native bf16: %s", here.reason)
                    return here
            with contextlib.suppress(TypeError, KeyError):
                return PrecisionChoice.from_dict(recorded)
    return choose_precision(cfg.precision, device)


def param_groups(
    model: torch.nn.Module, flow_lr_scale: float = 1.0, lr: float | None = None
) -> list[dict]:
    """Optimiser parameter groups: everything at the base rate, Θ at ``flow_lr_scale`` times it.

    One group when the scale is 1 (or the model has no flow regressor), so that checkpoints of
    single-rate runs keep their optimiser layout. Each group carries ``lr_scale`` and, when
    ``lr`` is given, its rate ``lr * lr_scale`` (the trainer sets rates at every step).
    """
    flow = {id(p) for m in model.modules() if isinstance(m, FlowRegressor) for p in m.parameters()}
    if flow_lr_scale == 1.0 or not flow:
        groups = [{"params": list(model.parameters()), "lr_scale": 1.0}]
    else:
        groups = [
            {"params": [p for p in model.parameters() if id(p) not in flow], "lr_scale": 1.0},
            {"params": [p for p in model.parameters() if id(p) in flow], "lr_scale": flow_lr_scale},
        ]
    if lr is not None:
        for g in groups:
            g["lr"] = lr * g["lr_scale"]
    return groups


COSINE_FLOOR = 0.01
"""The cosine schedule ends at this fraction of the peak rate."""


def lr_at(cfg: TrainConfig, step: int, steps_per_epoch: int, total_steps: int) -> float:
    """Learning rate of optimiser step ``step`` (0-based) under ``cfg``'s schedule.

    ``step``: the paper's ``lr * lr_decay ** (epoch // decay_every)``; ``cosine``: half a
    cosine from ``lr`` to ``lr * COSINE_FLOOR`` over ``total_steps``. A warm-up of
    ``cfg.warmup_steps`` scales either linearly from ``1 / warmup_steps`` to 1.

    >>> from vstm.train.config import make_config
    >>> cfg = make_config({"lr": 1.0, "schedule": "cosine", "warmup_steps": 4})
    >>> [round(lr_at(cfg, s, 10, 104), 3) for s in (0, 3, 4, 54, 103)]
    [0.25, 1.0, 1.0, 0.497, 0.01]
    """
    if cfg.schedule == "cosine":
        start = cfg.warmup_steps
        span = max(1, total_steps - 1 - start)
        progress = min(1.0, max(0.0, (step - start) / span))
        scale = COSINE_FLOOR + (1 - COSINE_FLOOR) * 0.5 * (1 + math.cos(math.pi * progress))
    else:
        scale = cfg.lr_decay ** ((step // steps_per_epoch) // cfg.decay_every)
    if cfg.warmup_steps and step < cfg.warmup_steps:
        scale *= (step + 1) / cfg.warmup_steps
    return cfg.lr * scale


def _machine_name(device: torch.device) -> str:
    """What ran the steps, e.g. "NVIDIA H200" or "AMD EPYC" (a record, not a decision)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model()


class Trainer:
    """Owns one run: model, optimiser, data, checkpoints, logs. ``run()`` trains to the end.

    The task (default: the one ``cfg.task`` names, :func:`vstm.train.task.make_task`) builds
    the model and data, gives each batch's losses and scores validation; the trainer owns the
    rest for every task alike: the step schedule, clipping, DDP, checkpoints, resume, logs.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        resume: bool = False,
        task: NextFrameTask | SegmentationTask | None = None,
    ) -> None:
        self.cfg = cfg
        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
        self.out = Path(cfg.out)
        probe = dist_utils.setup_probe()
        self.device = dist_utils.resolve_device(cfg.device, probe.local_rank)
        self.dist = dist_utils.setup(self.device)
        self.path = _resolve_path(cfg, self.device, self.out if resume else None)
        if self.dist.is_main:
            log.info(self.path.describe(cfg.model_options.get("lstm_impl", _lstm_impl(cfg))))
        self.cfg = cfg = dataclasses.replace(cfg, precision=self.path.precision)
        torch.manual_seed(cfg.seed)
        self.task = task if task is not None else make_task(cfg)
        _check_batch_memory(cfg, self.dist.world_size)
        setup = self.task.setup(cfg, fresh=not resume)
        self.model = setup.model.to(self.device)
        self.train_set, self.val_set, self.endless = setup.train, setup.val, setup.endless
        self.no_validation: str | None = None  # why there is no validation score, if none
        if self.val_set is None or len(self.val_set) == 0:  # type: ignore[arg-type]
            self.no_validation = (
                f"data {cfg.data} leaves no validation clip ({cfg.val_sequences} asked for): "
                "no validation score, best.safetensors is the latest checkpoint"
            )
            if self.val_set is not None and self.dist.is_main:
                log.warning("%s; give it more frames for a real choice of best", self.no_validation)
            self.val_set = None
        if cfg.batch_size % self.dist.world_size:
            raise VstmError(
                f"--batch-size {cfg.batch_size} must be divisible by the {self.dist.world_size} "
                "processes (it is the global batch)"
            )
        params = param_groups(self.model, cfg.flow_lr_scale)
        graphed = cfg.cuda_graph and self.device.type == "cuda"  # on CPU: the same logic, eager
        self.optimizer = make_optimizer(cfg.optimizer, params, cfg.lr, self.device, graphed)
        n = len(self.train_set)
        self.steps_per_epoch = (
            cfg.epoch_sequences // cfg.batch_size if self.endless else n // cfg.batch_size
        )
        if self.steps_per_epoch < 1:
            raise VstmError(
                f"data {cfg.data}: {n if not self.endless else cfg.epoch_sequences} training "
                f"clips cannot fill one batch of {cfg.batch_size}; lower --batch-size"
            )
        self.total_steps = cfg.steps if cfg.steps is not None else cfg.epochs * self.steps_per_epoch
        self.sync_every = cfg.sync_every or (SYNC_EVERY_CUDA if self.device.type == "cuda" else 1)
        self.step = 0
        self._saved_step: int | None = None  # step of the last checkpoint written
        self.best = -math.inf if self.task.higher_is_better else math.inf
        self.train_seconds = 0.0
        self.machines: list[dict] = []  # one entry per start or resume: where the steps ran
        if resume:
            ckpt = resume_checkpoint(self.out, quarantine=self.dist.is_main)
            header = restore_training(ckpt, self.model, self.optimizer)
            t = header["trainer"]
            self.step = t["step"]
            # "best" is null until a validation ran (e.g. a checkpoint written on SIGTERM)
            self.best = self.best if t.get("best") is None else t["best"]
            self.train_seconds = t.get("train_seconds", 0.0)
            self.machines = list(t.get("machines") or [])
            self._saved_step = self.step
            log.info("resumed %s at step %d (epoch %d)", self.out, self.step, self.epoch)
        self.machines.append(
            {
                "from_step": self.step,
                "machine": _machine_name(self.device),
                "precision": self.path.precision,
                "processes": self.dist.world_size,
            }
        )
        self.stop = StopSignals()  # train() activates it around run()
        self.ddp_model: torch.nn.Module | None = self.model
        self.graphed: GraphedTrainStep | None = None
        if cfg.cuda_graph:
            if self.dist.enabled or getattr(self.task, "ss_steps", 0) > 0:
                raise VstmError(
                    "--cuda-graph replays one recorded step: it runs in one process (no "
                    "torchrun) and without --ss-steps (a schedule read on the host)"
                )
            self.graphed = GraphedTrainStep(
                self.model,
                self.task.batch_loss,
                self.optimizer,
                lambda: _autocast(self.device, cfg.precision, cache=False),
                cfg.clip,
                cfg.clip_norm,
                capture=self.device.type == "cuda",
            )
        if self.dist.enabled and getattr(self.task, "horizon", 1) > 1:
            raise VstmError(
                f"--horizon {cfg.horizon} trains through model.step, outside DDP's forward: "
                "run it in one process (leave out torchrun), or train with --horizon 1"
            )
        if self.dist.enabled:
            self.ddp_model = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self._tb = None

    def close(self) -> None:
        """Release what holds the process group or worker processes (the DDP wrapper, the
        TensorBoard writer) before the group is destroyed."""
        self.ddp_model = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    @property
    def epoch(self) -> int:
        return self.step // self.steps_per_epoch

    def lr_at(self, step: int) -> float:
        """The learning rate of optimiser step ``step`` (0-based), see :func:`lr_at`.

        The step schedule decays every ``decay_every`` x ``epoch_sequences`` training
        sequences, on any data: on a finite data set an epoch (one pass) can be a few
        steps, and counting the decay in passes would drive the rate to zero within
        minutes (a 54-clip video folder: 6 steps per pass).
        """
        schedule_epoch = max(1, self.cfg.epoch_sequences // self.cfg.batch_size)
        return lr_at(self.cfg, step, schedule_epoch, self.total_steps)

    # ---------------------------------------------------------------- files (rank 0)
    def _write_json_line(self, row: dict) -> None:
        if not self.dist.is_main:
            return
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        if self._tb is not None:
            for k, v in row.items():
                if isinstance(v, int | float) and k not in ("step", "epoch"):
                    self._tb.add_scalar(f"{row['kind']}/{k}", v, row["step"])

    def _trim_metrics(self) -> None:
        """After a resume, drop log rows written after the checkpoint we resumed from.
        Unlike :func:`~vstm.train.metrics_log.read_metrics` this skips any damaged line: a
        log never stops a resume."""
        path = self.out / "metrics.jsonl"
        if not path.exists():
            return
        rows = [ln for ln in path.read_text().splitlines() if ln.strip()]
        keep = []
        for ln in rows:
            try:
                if json.loads(ln).get("step", 0) <= self.step:
                    keep.append(ln)
            except json.JSONDecodeError:
                continue  # a line cut by a crash
        atomic_write_text(path, "".join(k + "\n" for k in keep))

    def _state(self) -> dict:
        return {
            "step": self.step,
            "epoch": self.epoch,
            "best": self.best if math.isfinite(self.best) else None,
            "train_seconds": self.train_seconds,
            "steps_per_epoch": self.steps_per_epoch,
            "total_steps": self.total_steps,
            "machines": self.machines,
        }

    def _improves(self, score: float | None) -> bool:
        if score is None:
            return False
        return score > self.best if self.task.higher_is_better else score < self.best

    def save(self, val: dict[str, float] | None, validated: bool = True) -> None:
        """Write last.safetensors (keeping the one before as previous.safetensors), and
        best.safetensors when the task's validation score improved (or, with no validation
        set, at every validated checkpoint). ``validated``: False for a checkpoint written
        on a signal, without validation.

        A failed write (a full disk) leaves every earlier file intact and stops the run with
        one line saying so.
        """
        if not self.dist.is_main:
            return
        score = None if val is None else val[self.task.score]
        improved = self._improves(score) or (validated and self.val_set is None)
        state = {
            **self._state(),
            "best": score if self._improves(score) else self._state()["best"],
            **self.task.header(val),
        }
        if self.no_validation:
            state["best_reason"] = self.no_validation
        cfg = self.cfg.to_dict()
        last = self.out / LAST
        try:
            keep_previous(self.out)
            save_checkpoint(
                last, self.model, train_config=cfg, trainer=state, optimizer=self.optimizer
            )
            if improved:
                save_checkpoint(
                    self.out / "best.safetensors", self.model, train_config=cfg, trainer=state
                )
        except OSError as e:
            kept = f"{last} (step {self._saved_step}) is kept" if last.exists() else "none kept"
            raise VstmError(
                f"could not write the checkpoint of step {self.step} in {self.out} "
                f"({e.strerror or e}); the previous checkpoint {kept}. Free space, then "
                f"{self.task.command} --resume {self.out}"
            ) from e
        if self._improves(score):
            self.best = score
        self._saved_step = self.step

    def validate(self) -> dict[str, float] | None:
        """The task's scores of the validation set (None without one)."""
        return self.task.validate(self.model, self.val_set, self.cfg, self.device)

    # ---------------------------------------------------------------- the loop
    def run(self) -> Path:
        cfg = self.cfg
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            lstm_impl = cfg.model_options.get("lstm_impl", _lstm_impl(cfg))
            record = {**cfg.to_dict(), "path": self.path.to_dict(lstm_impl)}
            atomic_write_text(self.out / "config.json", json.dumps(record, indent=2) + "\n")
            self._trim_metrics()
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.out / "tb"))
            except ImportError:
                self._tb = None
        sampler = _GlobalBatches(
            len(self.train_set),
            cfg.batch_size,
            self.steps_per_epoch,
            self.total_steps,
            self.step,
            cfg.seed,
            self.endless,
            self.dist.rank,
            self.dist.world_size,
        )
        loader = DataLoader(
            self.train_set,
            batch_sampler=sampler,
            num_workers=cfg.workers,
            persistent_workers=cfg.workers > 0,
            pin_memory=self.device.type == "cuda",
        )
        from tqdm import tqdm

        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            disable=not (self.dist.is_main and sys.stderr.isatty()),
            unit="step",
            dynamic_ncols=True,
        )
        self.model.train()
        last_save = time.monotonic()
        t_log, frames_since = time.monotonic(), 0
        start_wall = time.monotonic()
        last_epoch = self.epoch
        log.info(
            "training %s on %s: %d steps (%d per epoch), batch %d, %s, %s, out %s",
            cfg.model,
            cfg.data,
            self.total_steps,
            self.steps_per_epoch,
            cfg.batch_size,
            self.device,
            cfg.precision,
            self.out,
        )
        stopped_early = False
        sync_every = self.sync_every
        bad = torch.zeros((), dtype=torch.bool, device=self.device)  # a deferred non-finite loss
        last_sync = self.step
        for batch in loader:
            t0 = time.monotonic()
            batch = {k: batch[k].to(self.device, non_blocking=True) for k in self.task.inputs}
            frames = batch["frames"]  # (B, T, C, H, W)
            lr = self.lr_at(self.step)
            self.task.step = self.step  # the clock of schedules inside the task
            if self.graphed is not None:  # forward, backward, clipping and update in one replay
                self.graphed.set_lr(lr)
                total, named = self.graphed(batch)
            else:
                for g in self.optimizer.param_groups:
                    g["lr"] = lr * g.get("lr_scale", 1.0)
                self.optimizer.zero_grad(set_to_none=True)
                with _autocast(self.device, cfg.precision):
                    parts = self.task.batch_loss(self.ddp_model, batch)
                parts.total.backward()
                if cfg.clip > 0:
                    torch.nn.utils.clip_grad_value_(self.model.parameters(), cfg.clip)
                if cfg.clip_norm > 0:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_norm)
                total, named = parts.total.detach(), parts.named()
            # time-based decisions travel with the loss so that every rank agrees on them
            now = time.monotonic()
            flags = [
                cfg.save_every <= 0 and now - last_save > cfg.save_minutes * 60,
                cfg.max_minutes is not None and now - start_wall > cfg.max_minutes * 60,
                self.stop.requested > 0,  # SIGTERM/SIGINT arrived (on any rank)
            ]
            nxt = self.step + 1
            synced = (
                self.dist.enabled  # every rank must agree on the flags every step
                or sync_every <= 1
                or nxt % sync_every == 0
                or nxt % cfg.log_every == 0
                or nxt >= self.total_steps
                or (cfg.save_every > 0 and nxt % cfg.save_every == 0)
                or nxt % self.steps_per_epoch == 0  # an epoch's end saves a checkpoint
                or any(flags)
            )
            if synced:  # one device -> host copy: the loss, its parts and the flags
                stats = dist_utils.all_reduce_mean(
                    torch.cat(
                        [
                            torch.stack([total, *named.values()]).float(),
                            torch.tensor(flags, dtype=torch.float32, device=self.device),
                            (~bad).float().view(1),  # every deferred step since the last sync
                        ]
                    ),
                    self.dist,
                )
                values = stats.tolist()
                loss, (time_due, over_budget, signalled) = values[0], values[-4:-1]
                part_values = dict(zip(named, values[1:-4], strict=True))
                all_finite = values[-1] == 1.0
                bad.zero_()
                window, last_sync = (last_sync + 1, nxt), nxt
            else:  # no host sync: the finiteness check waits on the device until the next one
                bad |= ~torch.isfinite(total)
                loss, all_finite = 0.0, True
                time_due, over_budget, signalled = (float(f) for f in flags)
            if not math.isfinite(loss) or not all_finite:
                where = (
                    f"at step {nxt}"
                    if not math.isfinite(loss)
                    else f"between steps {window[0]} and {window[1]}"
                )
                raise VstmError(
                    f"training diverged: the loss is not finite {where} (epoch {self.epoch}); "
                    f"the last good checkpoint {self.out / 'last.safetensors'} is kept. "
                    "Lower --lr or --clip, or use --precision fp32"
                )
            if self.graphed is None:  # the replay has updated the weights already
                self.optimizer.step()
            self.step += 1
            self.train_seconds += time.monotonic() - t0
            frames_since += frames.shape[0] * (frames.shape[1] - 1) * self.dist.world_size
            bar.update(1)
            if self.step % cfg.log_every == 0 or self.step == self.total_steps:
                now = time.monotonic()
                fps = frames_since / max(now - t_log, 1e-9)
                t_log, frames_since = now, 0
                row = {
                    "kind": "train",
                    "step": self.step,
                    "epoch": self.epoch,
                    "loss": loss,
                    **part_values,
                    "lr": lr,
                    "frames_per_s": fps,
                    "elapsed_s": self.train_seconds,
                }
                self._write_json_line(row)
                bar.set_postfix(loss=f"{loss:.4f}", fps=f"{fps:.0f}")
                if bar.disable and self.dist.is_main:
                    parts_text = " ".join(f"{k} {v:.5g}" for k, v in part_values.items())
                    log.info(
                        "step %d/%d epoch %d loss %.5f (%s) %.0f frames/s",
                        self.step,
                        self.total_steps,
                        self.epoch,
                        loss,
                        parts_text,
                        fps,
                    )
            epoch_end = self.epoch != last_epoch
            last_epoch = self.epoch
            due = time_due > 0 or (cfg.save_every > 0 and self.step % cfg.save_every == 0)
            over_budget = over_budget > 0
            done = self.step >= self.total_steps or over_budget
            if signalled > 0 and not done:  # preempted: save now (no validation), then stop
                signum = self.stop.requested or signal.SIGTERM  # another rank's signal
                self._check_ranks_in_sync()
                self.save(None, validated=False)
                raise StoppedBySignal(
                    f"stopped by {signal.Signals(signum).name} at step {self.step}; checkpoint "
                    f"{self.out / LAST}; continue with: {self.task.command} --resume {self.out}",
                    signum,
                )
            if due or epoch_end or done:
                self._checkpoint()
                last_save = time.monotonic()
            if over_budget:
                stopped_early = self.step < self.total_steps
                break
        bar.close()
        if stopped_early and self.dist.is_main:
            log.info(
                "stopped after %.1f minutes at step %d (--max-minutes)", cfg.max_minutes, self.step
            )
        if self._tb is not None:
            self._tb.close()
        dist_utils.barrier(self.dist)
        return self.out

    def _check_ranks_in_sync(self) -> None:
        """DDP keeps replicas identical; verify it with per-parameter checksums."""
        if not self.dist.enabled:
            return
        sums = torch.stack([p.detach().double().sum() for p in self.model.parameters()])
        gathered = [torch.empty_like(sums) for _ in range(self.dist.world_size)]
        torch.distributed.all_gather(gathered, sums)
        if any(not torch.equal(g, gathered[0]) for g in gathered):
            raise VstmError(f"step {self.step}: DDP ranks hold different weights; report a bug")
        if self.dist.is_main:
            log.info("step %d: %d ranks hold identical weights", self.step, self.dist.world_size)

    def _checkpoint(self) -> None:
        self._check_ranks_in_sync()
        val = self.validate() if self.dist.is_main else None
        if self.dist.is_main:
            if val is not None:
                self._write_json_line(
                    {"kind": "val", "step": self.step, "epoch": self.epoch, **val}
                )
            log.info(
                "step %d: %s; checkpoint %s",
                self.step,
                self.task.describe(val),
                self.out / "last.safetensors",
            )
        self.save(val)


def train(cfg: TrainConfig, resume: bool = False) -> Path:
    """Train (or resume) a run as ``cfg`` says; returns the run folder.

    The main process locks the run folder for the whole run (a second run on it is refused);
    SIGTERM and SIGINT make the run write a checkpoint and raise :class:`StoppedBySignal`.
    """
    is_main = dist_utils.setup_probe().is_main
    lock = RunLock(cfg.out) if is_main else contextlib.nullcontext()
    trainer = None
    try:
        with lock, StopSignals() as stop:
            trainer = Trainer(cfg, resume=resume)
            trainer.stop = stop
            return trainer.run()
    finally:
        # Tear down in order while the interpreter is fully alive: drop the DDP wrapper (its
        # reducer holds the process group and its last async work) and collect it, then
        # destroy the group, so that no gloo thread or tensor outlives it into interpreter
        # shutdown (rank 1 used to abort there: "terminate called without an active
        # exception").
        if trainer is not None:
            trainer.close()
        del trainer
        gc.collect()
        dist_utils.cleanup()


def resume_config(run_dir: str | Path, overrides: dict | None = None) -> TrainConfig:
    """The config of the run in ``run_dir`` (from its last checkpoint), with overrides."""
    run_dir = Path(run_dir)
    header, _ = read_checkpoint(resume_checkpoint(run_dir))
    values = dict(header.get("train_config") or {})
    values["out"] = str(run_dir)
    return make_config(values, overrides or {})
