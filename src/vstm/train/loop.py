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
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from vstm.errors import VstmError
from vstm.io import atomic_write_text
from vstm.models import model_facts
from vstm.ops.select import chosen_kernels, forget_kernels
from vstm.system import autocast
from vstm.train import distributed as dist_utils
from vstm.train.checkpoint import read_checkpoint, restore_training, save_checkpoint
from vstm.train.clips import GlobalBatches, build_datasets, build_model_for, check_batch_memory
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
from vstm.train.metrics_log import METRICS_FILE, trim_metrics
from vstm.train.path import machine_name, resolve_path
from vstm.train.schedule import lr_at, param_groups, planned_decay, timed_decay
from vstm.train.task import NextFrameTask, SegmentationTask, make_task

__all__ = [
    "Trainer",
    "build_datasets",
    "build_model_for",
    "lr_at",
    "param_groups",
    "resume_config",
    "train",
]

log = logging.getLogger("vstm.train")


SYNC_EVERY_CUDA = 25
"""On CUDA (``sync_every=0``, auto) the loss is copied to the host, and checked, every this many
steps instead of every step, so that the host queues work ahead of the GPU; the other steps
keep their finiteness check on the device until then. On the CPU the copy is free: every step."""


def _autocast(device: torch.device, precision: str, cache: bool = True):

    return autocast(device, precision, cache=cache)


@dataclasses.dataclass
class _Clock:
    """The loop's wall-clock bookkeeping: run start, last checkpoint, last log, last sync."""

    start: float
    first_step: int  # the step this process began at
    last_sync: int = 0  # the step of the last host sync
    last_save: float = dataclasses.field(default=0.0)
    last_log: float = dataclasses.field(default=0.0)
    frames: int = 0  # frames trained since the last log line

    def __post_init__(self) -> None:
        self.last_save = self.last_log = self.start
        self.last_sync = self.first_step


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
        self.path = resolve_path(cfg, self.device, self.out if resume else None)
        # the memory's convolution: the run's model option, else the model config's default
        self.lstm_impl: str | None = cfg.model_options.get(
            "lstm_impl", model_facts(cfg.model).default("lstm_impl")
        )
        if self.dist.is_main:  # the first line of the log: the path the run computes in
            log.info(self.path.describe(self.lstm_impl))
        self.cfg = cfg = dataclasses.replace(cfg, precision=self.path.precision)
        torch.manual_seed(cfg.seed)
        self.task = task if task is not None else make_task(cfg)
        check_batch_memory(cfg, self.dist.world_size)
        setup = self.task.setup(cfg, fresh=not resume)
        self.model = setup.model.to(self.device)
        self._take_data(setup.train, setup.val, setup.endless)
        self._plan_steps()
        self.init = setup.init  # what a warm start began from (kept by every checkpoint)
        self._restore(resume)
        self._wrap_model()
        self._tb = None

    def _take_data(self, train_set, val_set, endless: bool) -> None:
        """Keep the task's data sets; a validation set with no clip is dropped, with the
        reason in ``no_validation`` (warned about when the data left none)."""
        cfg = self.cfg
        self.train_set, self.val_set, self.endless = train_set, val_set, endless
        self.no_validation: str | None = None  # why there is no validation score, if none
        if self.val_set is None or len(self.val_set) == 0:  # type: ignore[arg-type]
            self.no_validation = (
                f"data {cfg.data} leaves no validation clip ({cfg.val_sequences} asked for): "
                "no validation score, best.safetensors is the latest checkpoint"
            )
            if self.val_set is not None and self.dist.is_main:
                log.warning("%s; give it more frames for a real choice of best", self.no_validation)
            self.val_set = None

    def _plan_steps(self) -> None:
        """Check the batch against the processes, build the optimiser, and set the steps per
        epoch, the total steps and how often the loss is synced to the host."""
        cfg = self.cfg
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

    def _restore(self, resume: bool) -> None:
        """Start at step 0, or with ``resume`` where the last checkpoint left off (model,
        optimiser, step, best score, training time, machines); either way record this
        machine as where the steps from here run."""
        self.step = 0
        self._saved_step: int | None = None  # step of the last checkpoint written
        self.best = -math.inf if self.task.higher_is_better else math.inf
        self.train_seconds = 0.0
        self.decay: tuple[int, int] | None = None  # wsd: (first step, length) once timed
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
            self.init = t.get("init")
            if t.get("decay"):  # a decay timed to an earlier budget: the run ends with it
                self.decay = (int(t["decay"][0]), int(t["decay"][1]))
                self.total_steps = min(self.total_steps, sum(self.decay))
            self._saved_step = self.step
            log.info("resumed %s at step %d (epoch %d)", self.out, self.step, self.epoch)
        self.machines.append(
            {
                "from_step": self.step,
                "machine": machine_name(self.device),
                "precision": self.path.precision,
                "processes": self.dist.world_size,
            }
        )

    def _wrap_model(self) -> None:
        """The signal handler, the recorded CUDA-graph step (``--cuda-graph``) and the DDP
        wrapper (under torchrun), after checking the run allows them."""
        cfg = self.cfg
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
        return lr_at(self.cfg, step, schedule_epoch, self.total_steps, self.decay)

    def _decay_due(self, elapsed_s: float, clock: _Clock) -> int:
        """The steps of a ``wsd`` decay that the minute budget calls for now (0: none; see
        :func:`timed_decay`), unless a decay is set or the planned one begins first."""
        if self.decay is not None or self.cfg.schedule != "wsd":
            return 0
        if self.step + 1 >= planned_decay(self.cfg, self.total_steps)[0]:
            return 0
        return timed_decay(self.cfg, elapsed_s, self.step + 1 - clock.first_step)

    def _begin_decay(self, length: int) -> None:
        """Decay the rate from this step over ``length`` steps; the run ends with the decay."""
        length = min(length, self.total_steps - self.step)
        self.decay, self.total_steps = (self.step, length), self.step + length
        if self.dist.is_main:
            log.info("step %d: %.1f of --max-minutes %g spent; the rate decays over the last "
                     "%d steps (wsd)", self.step, (1 - self.cfg.decay_fraction) *
                     self.cfg.max_minutes, self.cfg.max_minutes, length)  # fmt: skip

    # ---------------------------------------------------------------- files (rank 0)
    def _write_json_line(self, row: dict) -> None:
        if not self.dist.is_main:
            return
        with open(self.out / METRICS_FILE, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self._tb is not None:
            for k, v in row.items():
                if isinstance(v, int | float) and k not in ("step", "epoch"):
                    self._tb.add_scalar(f"{row['kind']}/{k}", v, row["step"])

    def _state(self) -> dict:
        return {
            "step": self.step,
            "epoch": self.epoch,
            "best": self.best if math.isfinite(self.best) else None,
            "train_seconds": self.train_seconds,
            "steps_per_epoch": self.steps_per_epoch,
            "total_steps": self.total_steps,
            "decay": None if self.decay is None else list(self.decay),
            "machines": self.machines,
            "init": self.init,
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
        """Train until ``total_steps`` (or ``--max-minutes``, or a signal); checkpoint and
        validate on the way; the run folder."""
        cfg = self.cfg
        self._open_run()
        loader = self._loader()
        from tqdm import tqdm

        bar = tqdm(total=self.total_steps, initial=self.step, unit="step", dynamic_ncols=True,
                   disable=not (self.dist.is_main and sys.stderr.isatty()))  # fmt: skip
        self.model.train()
        clock = _Clock(time.monotonic(), self.step)
        last_epoch = self.epoch
        log.info("training %s on %s: %d steps (%d per epoch), batch %d, %s, %s, out %s",
                 cfg.model, cfg.data, self.total_steps, self.steps_per_epoch, cfg.batch_size,
                 self.device, cfg.precision, self.out)  # fmt: skip
        stopped_early = False
        bad = torch.zeros((), dtype=torch.bool, device=self.device)  # a deferred non-finite loss
        forget_kernels()  # config.json records what the first step below chooses
        for batch in loader:
            t0 = time.monotonic()
            batch = {k: batch[k].to(self.device, non_blocking=True) for k in self.task.inputs}
            frames = batch["frames"]  # (B, T, C, H, W)
            lr = self.lr_at(self.step)
            total, named = self._forward_backward(batch, lr)
            now = time.monotonic()  # time-based decisions travel with the loss: ranks agree
            flags = [
                cfg.save_every <= 0 and now - clock.last_save > cfg.save_minutes * 60,
                cfg.max_minutes is not None and now - clock.start > cfg.max_minutes * 60,
                self.stop.requested > 0,  # SIGTERM/SIGINT arrived (on any rank)
                self._decay_due(now - clock.start, clock),  # ranks agree on its mean
            ]
            loss, part_values, (time_due, over_budget, signalled, decay_due) = self._sync(
                total, named, flags, bad, clock
            )
            if self.graphed is None:  # the replay has updated the weights already
                self.optimizer.step()
            self.step += 1
            if decay_due >= 1:
                self._begin_decay(int(decay_due))
            if self.step == clock.first_step + 1:
                self._record_kernels()
            self.train_seconds += time.monotonic() - t0
            clock.frames += frames.shape[0] * (frames.shape[1] - 1) * self.dist.world_size
            bar.update(1)
            if self.step % cfg.log_every == 0 or self.step == self.total_steps:
                self._log_train(loss, part_values, lr, clock, bar)
            epoch_end, last_epoch = self.epoch != last_epoch, self.epoch
            due = time_due > 0 or (cfg.save_every > 0 and self.step % cfg.save_every == 0)
            done = self.step >= self.total_steps or over_budget > 0
            if signalled > 0 and not done:  # preempted: save now (no validation), then stop
                self._stop_on_signal()
            if due or epoch_end or done:
                self._checkpoint()
                clock.last_save = time.monotonic()
            if done:  # a timed decay can end the run before its loader does
                stopped_early = self.step < self.total_steps
                break
        bar.close()
        if stopped_early and self.dist.is_main:
            log.info("stopped after %.1f minutes at step %d (--max-minutes)", cfg.max_minutes,
                     self.step)  # fmt: skip
        if self._tb is not None:
            self._tb.close()
        dist_utils.barrier(self.dist)
        return self.out

    def _open_run(self) -> None:
        """The main rank writes ``config.json`` (with the path that runs), trims the metrics
        log to the resumed step and opens TensorBoard's writer where it is installed."""
        if not self.dist.is_main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        self._write_config()
        trim_metrics(self.out / METRICS_FILE, self.step)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.out / "tb"))
        except ImportError:
            self._tb = None

    def _record_kernels(self) -> None:
        """``config.json``'s path gets the kernels :mod:`vstm.ops.select` chose in the first
        step (the record of what ran, not a second copy of the rules)."""
        kernels = chosen_kernels()
        if not self.dist.is_main or not kernels:
            return
        self._write_config(kernels)
        log.info("kernels: %s", ", ".join(f"{k} {v}" for k, v in sorted(kernels.items())))

    def _write_config(self, kernels: dict[str, str] | None = None) -> None:
        """``config.json``: the run's settings and its path (with the kernels once known)."""
        cfg = self.cfg
        record = {**cfg.to_dict(), "path": self.path.to_dict(self.lstm_impl, kernels)}
        atomic_write_text(self.out / "config.json", json.dumps(record, indent=2) + "\n")

    def _loader(self) -> DataLoader:
        """This rank's batches from the current step on, in the run's deterministic order."""
        cfg = self.cfg
        sampler = GlobalBatches(len(self.train_set), cfg.batch_size, self.steps_per_epoch,
                                self.total_steps, self.step, cfg.seed, self.endless,
                                self.dist.rank, self.dist.world_size)  # fmt: skip
        return DataLoader(self.train_set, batch_sampler=sampler, num_workers=cfg.workers,
                          persistent_workers=cfg.workers > 0,
                          pin_memory=self.device.type == "cuda")  # fmt: skip

    def _forward_backward(
        self, batch: dict[str, torch.Tensor], lr: float
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss, backward and clipping at rate ``lr`` (the optimiser steps after the sync;
        a graphed step has stepped already): the loss and its parts, device scalars."""
        cfg = self.cfg
        self.task.step = self.step  # the clock of schedules inside the task
        if self.graphed is not None:  # forward, backward, clipping and update in one replay
            self.graphed.set_lr(lr)
            return self.graphed(batch)
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
        return parts.total.detach(), parts.named()

    def _sync(
        self,
        total: torch.Tensor,
        named: dict[str, torch.Tensor],
        flags: list[float],
        bad: torch.Tensor,
        clock: _Clock,
    ) -> tuple[float, dict[str, float], tuple[float, ...]]:
        """The loss on the host (averaged over ranks) when this step syncs, else 0 with the
        finiteness check kept on the device (``bad``) until the next sync; raises on a loss
        that is not finite. (loss, its parts, the flags averaged over ranks)."""
        cfg, nxt = self.cfg, self.step + 1
        synced = (
            self.dist.enabled  # every rank must agree on the flags every step
            or self.sync_every <= 1
            or nxt % self.sync_every == 0
            or nxt % cfg.log_every == 0
            or nxt >= self.total_steps
            or (cfg.save_every > 0 and nxt % cfg.save_every == 0)
            or nxt % self.steps_per_epoch == 0  # an epoch's end saves a checkpoint
            or any(flags)
        )
        if not synced:  # no host sync: the finiteness check waits on the device
            bad |= ~torch.isfinite(total)
            return 0.0, {}, tuple(float(f) for f in flags)  # type: ignore[return-value]
        stats = dist_utils.all_reduce_mean(  # one device -> host copy: loss, parts, flags
            torch.cat([
                torch.stack([total, *named.values()]).float(),
                torch.tensor(flags, dtype=torch.float32, device=self.device),
                (~bad).float().view(1),  # every deferred step since the last sync
            ]),
            self.dist,
        )  # fmt: skip
        values = stats.tolist()
        loss, all_finite = values[0], values[-1] == 1.0
        bad.zero_()
        window, clock.last_sync = (clock.last_sync + 1, nxt), nxt
        if not math.isfinite(loss) or not all_finite:
            where = f"at step {nxt}" if not math.isfinite(loss) else (
                f"between steps {window[0]} and {window[1]}")  # fmt: skip
            raise VstmError(
                f"training diverged: the loss is not finite {where} (epoch {self.epoch}); "
                f"the last good checkpoint {self.out / 'last.safetensors'} is kept. "
                "Lower --lr or --clip, or use --precision fp32"
            )
        n = len(named)
        parts = dict(zip(named, values[1 : 1 + n], strict=True))
        return loss, parts, tuple(values[1 + n : -1])

    def _log_train(self, loss: float, parts: dict, lr: float, clock: _Clock, bar) -> None:
        """One ``train`` row in metrics.jsonl (and the log line where no bar is drawn)."""
        now = time.monotonic()
        fps = clock.frames / max(now - clock.last_log, 1e-9)
        clock.last_log, clock.frames = now, 0
        row = {"kind": "train", "step": self.step, "epoch": self.epoch, "loss": loss, **parts,
               "lr": lr, "frames_per_s": fps, "elapsed_s": self.train_seconds}  # fmt: skip
        self._write_json_line(row)
        bar.set_postfix(loss=f"{loss:.4f}", fps=f"{fps:.0f}")
        if bar.disable and self.dist.is_main:
            text = " ".join(f"{k} {v:.5g}" for k, v in parts.items())
            log.info("step %d/%d epoch %d loss %.5f (%s) %.0f frames/s", self.step,
                     self.total_steps, self.epoch, loss, text, fps)  # fmt: skip

    def _stop_on_signal(self) -> None:
        """Preempted: save without validating (every rank in step), then stop."""
        signum = self.stop.requested or signal.SIGTERM  # another rank's signal
        dist_utils.check_ranks_in_sync(self.model, self.dist, self.step)
        self.save(None, validated=False)
        raise StoppedBySignal(
            f"stopped by {signal.Signals(signum).name} at step {self.step}; checkpoint "
            f"{self.out / LAST}; continue with: {self.task.command} --resume {self.out}",
            signum,
        )

    def _checkpoint(self) -> None:
        dist_utils.check_ranks_in_sync(self.model, self.dist, self.step)
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
