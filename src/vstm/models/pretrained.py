"""Weights this project trained, shipped inside the package (``src/vstm/pretrained/``).

Each entry of ``vstm/pretrained/manifest.json`` names one model trained on one data set: a
``.safetensors`` checkpoint (weights, model config and training config; no optimiser state),
its SHA-256, the exact command that trained it, the compute it received and its test scores.
Nothing is ever downloaded: the files are part of the wheel.

Where a checkpoint path is accepted (``vstm eval/predict/export --checkpoint``,
:func:`vstm.load_checkpoint`), ``pretrained:NAME/DATASET`` names a shipped file; in code,
``build_model(NAME, pretrained=DATASET)``. Every load checks the file against the manifest's
SHA-256 first, so an edited or truncated file is refused with a one-line error.

>>> [e.key for e in entries(root=_EXAMPLE)]  # doctest: +SKIP
['ae-convlstm-flow/moving-mnist']
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from vstm.errors import VstmError
from vstm.io import atomic_path, atomic_write_text

__all__ = [
    "PREFIX",
    "ROOT",
    "PretrainedEntry",
    "entries",
    "entry_of",
    "find",
    "format_listing",
    "is_pretrained",
    "matches",
    "resolve",
    "sha256_of",
]

PREFIX = "pretrained:"
ROOT = Path(__file__).resolve().parent.parent / "pretrained"
"""The folder of shipped weights and their ``manifest.json``."""
MANIFEST = "manifest.json"
_EXAMPLE = ROOT


@dataclasses.dataclass(frozen=True)
class PretrainedEntry:
    """One shipped checkpoint, as the manifest describes it.

    Attributes:
        name: registry model name, e.g. ``"ae-convlstm-flow"``.
        dataset: what it was trained on, e.g. ``"moving-mnist"``.
        file: the ``.safetensors`` file, relative to the manifest's folder.
        sha256 / bytes: the file's checksum and size.
        command: the exact command(s) that trained it.
        compute: steps, sequences, frames, training seconds, machine, date.
        scores: test scores on the full protocol (e.g. Table 1's 3,000 sequences).
        check: scores on a small fixed test set that the test suite recomputes, with the
            settings to rebuild that set and the tolerance they must be met within.
        notes: free text (what differs from the paper's recipe, caveats).
    """

    name: str
    dataset: str
    file: str
    sha256: str
    bytes: int
    command: str
    compute: dict[str, Any]
    scores: dict[str, Any]
    check: dict[str, Any]
    notes: str = ""

    @property
    def key(self) -> str:
        return f"{self.name}/{self.dataset}"


def entries(root: Path | None = None) -> list[PretrainedEntry]:
    """The manifest's entries (empty when nothing ships), sorted by key."""
    path = (root or ROOT) / MANIFEST
    if not path.is_file():
        return []
    try:
        raw = json.loads(path.read_text())
        items = [PretrainedEntry(**e) for e in raw["weights"]]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise VstmError(f"pretrained manifest {path} is corrupt ({e}); reinstall vstm") from e
    return sorted(items, key=lambda e: e.key)


def is_pretrained(spec: object) -> bool:
    """Whether ``spec`` is a ``pretrained:NAME/DATASET`` checkpoint name."""
    return isinstance(spec, str) and spec.startswith(PREFIX)


def find(name: str, dataset: str, root: Path | None = None) -> PretrainedEntry:
    """The entry of ``name`` trained on ``dataset``; a one-line error lists what ships."""
    known = entries(root)
    for e in known:
        if e.name == name and e.dataset == dataset:
            return e
    listing = ", ".join(PREFIX + e.key for e in known) or "none in this install"
    raise VstmError(f"no pretrained weights {PREFIX}{name}/{dataset}; shipped: {listing}")


def sha256_of(path: Path) -> str:
    """The SHA-256 of the file at ``path``, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def matches(path: Path, entry: PretrainedEntry) -> bool:
    """Whether the file at ``path`` is the entry's file (same size and SHA-256)."""
    return path.is_file() and path.stat().st_size == entry.bytes and sha256_of(path) == entry.sha256


def verified_path(entry: PretrainedEntry, root: Path | None = None) -> Path:
    """The entry's file, after checking it against the manifest's size and SHA-256."""
    path = (root or ROOT) / entry.file
    if not path.is_file():
        raise VstmError(f"pretrained weights {entry.key}: {path} is missing; reinstall vstm")
    if not matches(path, entry):
        raise VstmError(
            f"pretrained weights {entry.key}: {path} does not match its SHA-256 in the "
            "manifest (edited or corrupt); reinstall vstm"
        )
    return path


def entry_of(spec: str, root: Path | None = None) -> PretrainedEntry:
    """``"pretrained:NAME/DATASET"`` -> the manifest's entry of that shipped checkpoint."""
    key = spec[len(PREFIX) :] if is_pretrained(spec) else spec
    name, sep, dataset = key.partition("/")
    if not sep or not name or not dataset:
        raise VstmError(
            f"pretrained checkpoint {spec!r}: write it as {PREFIX}NAME/DATASET, "
            f"e.g. {PREFIX}ae-convlstm-flow/moving-mnist (vstm info --pretrained lists them)"
        )
    return find(name, dataset, root)


def resolve(spec: str, root: Path | None = None) -> Path:
    """``"pretrained:NAME/DATASET"`` -> the verified path of that shipped checkpoint."""
    return verified_path(entry_of(spec, root), root)


def format_listing(root: Path | None = None) -> str:
    """The text of ``vstm info --pretrained``."""
    items = entries(root)
    if not items:
        return "no pretrained weights ship with this install"
    lines = []
    for e in items:
        c, s = e.compute, e.scores
        lines.append(f"{PREFIX}{e.key}  ({e.bytes / 1e6:.1f} MB, sha256 {e.sha256[:12]}...)")
        after = f" after {c['prior_steps']:,} of its start" if c.get("prior_steps") else ""
        lines.append(
            f"  trained: {c.get('steps', '?'):,} steps{after}, {c.get('sequences', 0):,} "
            f"sequences, {c.get('train_seconds', 0) / 3600:.2f} h on {c.get('machine', '?')} "
            f"({c.get('date', '?')})"
        )
        shown = ", ".join(
            f"{k} {v:.4g}" for k, v in s.items() if isinstance(v, int | float) and k != "sequences"
        )
        lines.append(f"  test ({s.get('sequences', '?')} sequences): {shown}")
        lines.append(f"  command: {e.command}")
        if e.notes:
            lines.append(f"  notes: {e.notes}")
    return "\n".join(lines)


def load_pretrained(
    name: str, dataset: str, root: Path | None = None
) -> tuple[Any, dict[str, Any]]:
    """Build ``name`` with its shipped weights for ``dataset``.

    Returns:
        (model, the checkpoint's header: ``model``, ``model_config``, ``train_config``, ...).
    """
    from safetensors.torch import load_file, safe_open

    from vstm.models.registry import build_model

    entry = find(name, dataset, root)
    path = verified_path(entry, root)
    with safe_open(str(path), framework="pt") as f:
        header = json.loads((f.metadata() or {})["vstm"])
    model = build_model(header["model"], **header["model_config"])
    weights = {k[6:]: v for k, v in load_file(str(path)).items() if k.startswith("model.")}
    model.load_state_dict(weights)
    return model, header


def add_entry(
    checkpoint: dict[str, Any],
    tensors: dict[str, Any],
    *,
    dataset: str,
    command: str,
    compute: dict[str, Any],
    scores: dict[str, Any],
    check: dict[str, Any],
    notes: str = "",
    root: Path | None = None,
) -> PretrainedEntry:
    """Write a shipped checkpoint (weights only) and its manifest entry, atomically.

    Args:
        checkpoint: a run checkpoint's header (``read_checkpoint``); its optimiser, RNG and
            trainer state are dropped, the model and training configs kept, and of the
            trainer its step, machines and, for a warm-started run, its lineage (``init``).
        tensors: its tensors; only ``model.*`` ones are written.
        dataset, command, compute, scores, check, notes: see :class:`PretrainedEntry`.
        root: the pretrained folder (default: the package's).

    Returns:
        the new entry; an existing entry of the same model and data set is replaced.
    """
    from safetensors.torch import save_file

    root = root or ROOT
    name = checkpoint["model"]
    header = {
        "format": checkpoint["format"],
        "model": name,
        "model_config": checkpoint["model_config"],
        "train_config": checkpoint.get("train_config"),
        "trainer": {
            k: v
            for k, v in (checkpoint.get("trainer") or {}).items()
            if k in ("step", "machines", "init")
        },
        "pretrained": f"{name}/{dataset}",
    }
    weights = {k: v.contiguous() for k, v in tensors.items() if k.startswith("model.")}
    rel = f"{name}/{dataset}.safetensors"
    path = root / rel
    with atomic_path(path) as tmp:
        save_file(weights, str(tmp), metadata={"vstm": json.dumps(header, sort_keys=True)})
    entry = PretrainedEntry(
        name=name,
        dataset=dataset,
        file=rel,
        sha256=sha256_of(path),
        bytes=path.stat().st_size,
        command=command,
        compute=compute,
        scores=scores,
        check=check,
        notes=notes,
    )
    kept = [e for e in entries(root) if e.key != entry.key] + [entry]
    manifest = {
        "about": "Weights trained by the vstm project; see vstm.models.pretrained.",
        "weights": [dataclasses.asdict(e) for e in sorted(kept, key=lambda e: e.key)],
    }
    atomic_write_text(root / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return entry
