"""What a training run trains on: the model a config describes, its train and validation
clips, and the deterministic order in which every rank reads them."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from vstm.data import build_dataset
from vstm.data.mix import MixedClips
from vstm.data.names import is_generated, is_moving_mnist, is_photo_motion
from vstm.data.video import frame_cache_dir
from vstm.errors import VstmError
from vstm.models import VideoPredictor, build_model, model_facts
from vstm.system import check_memory, model_bytes_per_pixel
from vstm.train.config import TrainConfig

__all__ = [
    "GlobalBatches",
    "build_datasets",
    "build_model_for",
    "check_batch_memory",
    "split_overlapping",
]


def build_model_for(cfg: TrainConfig) -> VideoPredictor:
    """The model a training config describes: its ``model_options``, then the run's settings
    the model has fields for (w_H, δ, channels, frame size; the registry decides which)."""
    options = model_facts(cfg.model).options_for(
        cfg.model_options, w_h=cfg.w_h, delta=cfg.delta, in_channels=cfg.channels, size=cfg.size
    )
    try:
        return build_model(cfg.model, **options)
    except (RuntimeError, ValueError, TypeError) as e:  # e.g. a size torch refuses
        raise VstmError(f"{cfg.model}: cannot build it with {options} ({e})") from e


def build_datasets(cfg: TrainConfig, channels: int) -> tuple[Dataset, Dataset, bool]:
    """(train, validation, endless) data sets; ``endless``: the train set is an endless
    generator indexed epoch after epoch with fresh sequences (Moving MNIST)."""

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


def check_batch_memory(cfg: TrainConfig, world_size: int) -> None:
    """Refuse, before any memory is asked for, a batch whose activations cannot fit."""

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


class GlobalBatches(torch.utils.data.Sampler):
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
