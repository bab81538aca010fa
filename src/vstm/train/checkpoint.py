"""Checkpoints: safetensors weights with a JSON header; never pickle.

One ``.safetensors`` file holds everything needed to rebuild the model and resume training:

- tensors ``model.<name>``: the model's state dict;
- tensors ``optim.<param index>.<key>``: the optimiser's per-parameter state;
- tensors ``rng.torch`` (and ``rng.cuda.<i>``): random generator states;
- metadata key ``vstm``: JSON with the format version, the model name and config, the
  training config and the trainer state (epoch, step, best metric, optimiser hyper-parameters,
  scheduler state).

A readable copy of the JSON is written beside it (``last.json`` for ``last.safetensors``).
Both files are written atomically (temp file + rename), the weights first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from vstm.errors import VstmError
from vstm.io import atomic_path, atomic_write_text
from vstm.models import VideoPredictor, config_from_dict
from vstm.models.checkpoint import (  # reading lives beside the models (old imports work)
    FORMAT,
    load_checkpoint,  # noqa: F401
    load_model_weights,
    read_checkpoint,
    require_keys,
)

__all__ = ["restore_training", "save_checkpoint"]


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, state in sd["state"].items():
        for k, v in state.items():
            if torch.is_tensor(v):
                tensors[f"optim.{idx}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{k}"] = v
    groups = [  # JSON: a graphed step's device-tensor rates are saved as numbers
        {k: (float(v) if torch.is_tensor(v) else v) for k, v in g.items()}
        for g in sd["param_groups"]
    ]
    return tensors, {"param_groups": groups, "scalars": scalars}


def _restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        if key.startswith("optim."):
            _, idx, k = key.split(".", 2)
            state.setdefault(int(idx), {})[k] = v
    for key, v in meta.get("scalars", {}).items():
        idx, k = key.split(".", 1)
        state.setdefault(int(idx), {})[k] = v
    live = optimizer.param_groups
    groups = [  # this machine's optimiser decides how it runs (capturable, device-tensor rates)
        {**g, **{k: live[i][k] for k in ("capturable", "lr") if i < len(live) and k in live[i]}}
        for i, g in enumerate(meta["param_groups"])
    ]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def save_checkpoint(
    path: str | Path,
    model: VideoPredictor,
    *,
    train_config: dict | None = None,
    trainer: dict | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> Path:
    """Write ``model`` (and optionally the optimiser and trainer state) to ``path`` atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    header: dict[str, Any] = {
        "format": FORMAT,
        "model": model.name,
        "model_config": model.config_dict(),
        "train_config": train_config,
        "trainer": dict(trainer or {}),
    }
    if optimizer is not None:
        opt_tensors, opt_meta = _optimizer_tensors(optimizer)
        tensors.update(opt_tensors)
        header["trainer"]["optimizer"] = opt_meta
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    text = json.dumps(header)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"vstm": text})
    atomic_write_text(path.with_suffix(".json"), json.dumps(header, indent=2) + "\n")
    return path


def restore_training(
    path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> dict[str, Any]:
    """Load weights, optimiser and RNG state of ``path`` into live objects; return its header."""
    header, tensors = read_checkpoint(path)
    require_keys(header, path, "model", "model_config", "trainer")
    config_from_dict(header["model"], header["model_config"])  # validates
    load_model_weights(model, tensors, path)
    if "optimizer" in header["trainer"]:
        try:
            _restore_optimizer(optimizer, tensors, header["trainer"]["optimizer"])
        except (KeyError, ValueError, TypeError, RuntimeError) as e:
            raise VstmError(f"checkpoint {path}: its optimiser state does not fit") from e
    step = header["trainer"].get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise VstmError(f"checkpoint {path} has a corrupt vstm header (trainer step {step!r})")
    if "rng.torch" in tensors:
        torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    return header
