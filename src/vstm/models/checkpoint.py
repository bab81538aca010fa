"""Reading checkpoints for inference: rebuild a model from a ``.safetensors`` file alone.

A checkpoint is safetensors weights with a JSON header (``vstm`` metadata key: format, model
name and config, training config, trainer state); :mod:`vstm.train.checkpoint` writes them
and restores the optimiser state of a run. Reading never unpickles: a file of another kind is
named by its first bytes and refused in one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from vstm.data.names import default_loss
from vstm.errors import VstmError
from vstm.io import file_kind
from vstm.models import pretrained
from vstm.models.base import VideoPredictor
from vstm.models.registry import build_model

__all__ = [
    "FORMAT",
    "clip_length",
    "load_checkpoint",
    "load_model_weights",
    "model_outputs",
    "read_checkpoint",
    "require_keys",
]

FORMAT = "vstm-checkpoint-1"
MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit; a header claiming more is refused
_HEADER_TYPES = {
    "model": str,
    "model_config": dict,
    "train_config": (dict, type(None)),
    "trainer": dict,
}


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


def require_keys(header: dict[str, Any], path: str | Path, *keys: str) -> None:
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
    require_keys(header, path, "model", "model_config")
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


def model_outputs(header: dict[str, Any]) -> str:
    """``"logits"`` if the checkpoint's model was trained with BCE, else ``"values"``
    (``--loss auto`` resolved by :func:`vstm.data.names.default_loss`, as training does)."""

    tc = header.get("train_config")
    if not tc:
        return "logits"
    loss = tc.get("loss", "auto")
    if loss == "auto":
        loss = default_loss(tc.get("data", "moving-mnist"))
    return "logits" if loss == "bce" else "values"


def clip_length(train_config: dict[str, Any]) -> int:
    """Frames per clip of a checkpoint's saved training config: context + horizon (old
    segmentation configs: ``seq_len``)."""
    if "seq_len" in train_config:
        return int(train_config["seq_len"])
    return int(train_config.get("context", 9)) + int(train_config.get("horizon", 1))
