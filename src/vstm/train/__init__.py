"""Training: config, task (model + loss), loop, checkpoints, distributed."""

from vstm.train.checkpoint import save_checkpoint
from vstm.train.config import TrainConfig, load_config_file, make_config, tiny_overrides
from vstm.train.task import LossParts, NextFrameTask

__all__ = [
    "LossParts",
    "NextFrameTask",
    "TrainConfig",
    "load_config_file",
    "make_config",
    "save_checkpoint",
    "tiny_overrides",
]
