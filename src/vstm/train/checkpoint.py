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
from vstm.io import atomic_path, atomic_write_text, file_kind
from vstm.models import VideoPredictor, build_model, config_from_dict, pretrained

__all__ = ["FORMAT", "load_checkpoint", "read_checkpoint", "save_checkpoint"]

FORMAT = "vstm-checkpoint-1"
MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit; a header claiming more is refused
_HEADER_TYPES = {
    "model": str,
    "model_config": dict,
    "train_config": (dict, type(None)),
    "trainer": dict,
}


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, state in sd["state"].items():
        for k, v in state.items():
            if torch.is_tensor(v):
                tensors[f"optim.{idx}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        if key.startswith("optim."):
            _, idx, k = key.split(".", 2)
            state.setdefault(int(idx), {})[k] = v
    for key, v in meta.get("scalars", {}).items():
        idx, k = key.split(".", 1)
        state.setdefault(int(idx), {})[k] = v
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


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


def read_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read a checkpoint's header and tensors, with one clear error for every bad file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    if pretrained.is_pretrained(path):
        path = pretrained.resolve(str(path))
    path = Path(path)
    if path.is_dir():
        for name in ("best.safetensors", "last.safetensors"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise VstmError(f"checkpoint folder {path} holds no best/last.safetensors")
    if not path.is_file():
        raise VstmError(f"checkpoint {path} does not exist; pass a .safetensors file from a run")
    with open(path, "rb") as f:
        head = f.read(16)
    size = path.stat().st_size
    # safetensors: an 8-byte little-endian header length, then the JSON header ("{"); the
    # length's first byte may be 0x80, so look at byte 8 before calling it a pickle.
    safetensors_like = head[8:9] == b"{"
    if not safetensors_like and (head[:1] == b"\x80" or head[:2] == b"PK"):
        raise VstmError(
            f"checkpoint {path} is a pickle/zip file; vstm never unpickles files. "
            "Load it in trusted code and save the weights with safetensors"
        )
    kind = file_kind(head, path.name)
    if kind is not None:  # identified by its first bytes: say what it is, not "truncated"
        hint = (
            " (as vstm export writes: pass the .safetensors checkpoint it was exported from)"
            if kind == "an ONNX model"
            else ""
        )
        raise VstmError(
            f"checkpoint {path} is {kind}{hint}, not a vstm checkpoint; pass a .safetensors "
            "file written by vstm train (or pretrained:NAME/DATASET)"
        )
    # the 8-byte header length is checked before safetensors reads (and allocates) it
    claimed = int.from_bytes(head[:8], "little") if len(head) >= 8 else None
    if claimed is None or not 2 <= claimed <= min(size - 8, MAX_HEADER_BYTES):
        what = f"{size} bytes" if claimed is None else f"a {claimed}-byte header in {size} bytes"
        raise VstmError(
            f"checkpoint {path} is not a readable safetensors file ({what}); it may be "
            "truncated: use another checkpoint of the run (last/previous/best)"
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise VstmError(
            f"checkpoint {path} is not a readable safetensors file ({str(e).splitlines()[0]}); "
            "it may be truncated: use another checkpoint of the run (last/best)"
        ) from e
    if "vstm" not in meta:
        raise VstmError(f"checkpoint {path} has no vstm header: it was not written by vstm")
    try:
        header = json.loads(meta["vstm"])
    except json.JSONDecodeError as e:
        raise VstmError(f"checkpoint {path} has a corrupt vstm header") from e
    if not isinstance(header, dict):
        raise VstmError(f"checkpoint {path} has a corrupt vstm header (not a JSON object)")
    if header.get("format") != FORMAT:
        raise VstmError(
            f"checkpoint {path} has format {header.get('format')!r}; this vstm reads {FORMAT!r}"
        )
    for key, kinds in _HEADER_TYPES.items():  # the keys present (a reader needing one checks)
        if key in header and not isinstance(header[key], kinds):
            raise VstmError(
                f"checkpoint {path} has a corrupt vstm header ({key} is "
                f"{type(header.get(key)).__name__})"
            )
    return header, tensors


def _require(header: dict[str, Any], path: str | Path, *keys: str) -> None:
    missing = [k for k in keys if k not in header]
    if missing:
        raise VstmError(f"checkpoint {path} has a corrupt vstm header (no {', '.join(missing)})")


def load_checkpoint(
    path: str | Path, map_location: str | torch.device = "cpu", expect_model: str | None = None
) -> tuple[VideoPredictor, dict[str, Any]]:
    """Rebuild a model from a checkpoint file alone.

    Args:
        path: a ``.safetensors`` file written by vstm, a run folder (best, then last), or
            ``pretrained:NAME/DATASET`` (weights shipped with vstm, checksum-verified).
        map_location: device for the weights.
        expect_model: if given, a checkpoint of another model is an error.

    Returns:
        (model in eval mode, header dict with ``model``, ``model_config``, ``train_config``,
        ``trainer``).
    """
    header, tensors = read_checkpoint(path)
    _require(header, path, "model", "model_config")
    name = header["model"]
    if expect_model is not None and name != expect_model:
        raise VstmError(
            f"checkpoint {path} holds a {name!r} model, not {expect_model!r}; "
            f"use --model {name} or another checkpoint"
        )
    try:
        model = build_model(name, **header["model_config"])
    except (RuntimeError, ValueError, TypeError) as e:  # e.g. a negative size: torch refuses
        raise VstmError(
            f"checkpoint {path} has an invalid {name} config ({str(e).splitlines()[0]})"
        ) from e
    load_model_weights(model, tensors, path)
    return model.to(map_location).eval(), header


def load_model_weights(model: torch.nn.Module, tensors: dict, path: str | Path) -> None:
    """Load a checkpoint's ``model.*`` tensors into ``model``; a mismatch is a one-line error."""
    weights = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError as e:  # a tensor of the wrong shape
        raise VstmError(
            f"checkpoint {path} does not match the {getattr(model, 'name', '?')!r} "
            "architecture (tensor shapes differ)"
        ) from e
    if missing or unexpected:
        raise VstmError(
            f"checkpoint {path} does not match the {getattr(model, 'name', '?')!r} architecture "
            f"(missing {len(missing)}, unexpected {len(unexpected)} tensors)"
        )


def restore_training(
    path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> dict[str, Any]:
    """Load weights, optimiser and RNG state of ``path`` into live objects; return its header."""
    header, tensors = read_checkpoint(path)
    _require(header, path, "model", "model_config", "trainer")
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
