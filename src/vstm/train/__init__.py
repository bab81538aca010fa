"""Training: config, task (model + loss), loop, checkpoints, distributed."""

from vstm.train.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from vstm.train.config import TrainConfig, load_config_file, make_config, tiny_overrides
from vstm.train.task import LossParts, NextFrameTask

__all__ = [
    "LossParts",
    "NextFrameTask",
    "TrainConfig",
    "load_checkpoint",
    "load_config_file",
    "make_config",
    "read_checkpoint",
    "save_checkpoint",
    "tiny_overrides",
]
